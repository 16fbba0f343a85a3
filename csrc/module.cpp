// The Python module vfi_ops._C: `import vfi_ops._C` loads this library, and with
// it every registration of ops.cpp, cpu/, cuda/ and autocast.cpp. Its functions
// report what the build holds (vfi_ops/_ext.py, python -m vfi_ops).
#include <Python.h>

#include <string>
#include <vector>

#include "cpu/row_taps.h"  // row_taps_isa: the CPU-capability probe
#include "op_lists.h"

namespace {

PyObject* string_list(const std::vector<std::string>& items) {
  PyObject* list = PyList_New(static_cast<Py_ssize_t>(items.size()));
  if (list == nullptr) return nullptr;
  for (size_t i = 0; i < items.size(); ++i) {
    PyObject* item = PyUnicode_FromString(items[i].c_str());
    if (item == nullptr) {
      Py_DECREF(list);
      return nullptr;
    }
    PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), item);
  }
  return list;
}

PyObject* py_op_names(PyObject*, PyObject*) { return string_list(vfi_ops::op_names()); }
PyObject* py_cpu_vector_isa(PyObject*, PyObject*) { return PyUnicode_FromString(vfi_ops::row_taps_isa()); }
PyObject* py_cuda_op_names(PyObject*, PyObject*) { return string_list(vfi_ops::cuda_op_names()); }

}  // namespace

extern "C" PyObject* PyInit__C(void) {
  static PyMethodDef methods[] = {
      {"op_names", py_op_names, METH_NOARGS, "The names of the vfi_ops operators (name or name.overload)."},
      {"cuda_op_names", py_cuda_op_names, METH_NOARGS,
       "The operators with CUDA kernels (none in a build without CUDA)."},
      {"cpu_vector_isa", py_cpu_vector_isa, METH_NOARGS,
       "The instruction set of the CPU kernels' vectorised tap routines here (AVX2, or none: scalar)."},
      {nullptr, nullptr, 0, nullptr}};
  static PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C", "vfi_ops compiled operators (use torch.ops.vfi_ops)", -1,
                               methods};
  return PyModule_Create(&module);
}
