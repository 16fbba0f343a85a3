"""The checks every op must pass, written once, on every backend.

An op's test file subclasses :class:`OpTester` (``class TestFlowProjection(OpTester)``)
and fills in its hooks: how to call the op, its pure-PyTorch reference, sample
inputs (random and edge cases), inputs for gradcheck, empty inputs and bad
inputs. Every ``test_*`` method below then runs for that op on each backend:

- ``cpu``: the CPU kernels;
- ``cuda-emulated``: the CUDA kernels compiled for the CPU (tests/cuda_emulation.py),
  so that their launches, index arithmetic and scatters run in every test run;
- ``cuda``: the CUDA kernels on a GPU (skipped without one).

Arguments are passed as the raw op takes them (its schema's order); inputs are
made as float64 CPU tensors and moved and cast by the checks.
"""

import collections
import contextlib

import pytest
import torch

from helpers import DeterministicAlgorithms, strided

# Emulated-CUDA cases run, by (op, dtype, index type); printed at the end of the run.
EMULATED_CASES = collections.Counter()

REDUCED = [torch.float16, torch.bfloat16]


def is_float_tensor(x):
    return isinstance(x, torch.Tensor) and x.is_floating_point()


def convert(args, device=None, dtype=None):
    """args with every floating tensor moved to device and cast to dtype (others moved only)."""
    out = []
    for a in args:
        if isinstance(a, torch.Tensor):
            a = a.to(device=device or a.device, dtype=dtype if a.is_floating_point() and dtype else a.dtype)
        out.append(a)
    return tuple(out)


@contextlib.contextmanager
def num_threads(n):
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def native_cpu_convolution(backend):
    """On the emulated backend, ATen's own CPU convolution stands in for cuDNN's
    (sparse_masked_conv2d's dense route): oneDNN's bfloat16 convolution with a
    stride and a dilation returns wrong values on some CPUs (errors of 13 where
    results are below 10, seen with torch 2.14), which would be blamed on our kernels."""
    if backend.name != "cuda-emulated":
        yield
        return
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


class OpTester:
    """Base of every op's test class; see the module docstring."""

    op = None  # name in torch.ops.<library>
    grad_rtol = 1e-9  # float64 agreement with the reference
    thread_bitwise = True  # CPU results bitwise equal for any thread count
    cuda_forward_atomic = False  # the CUDA forward sums with atomics (repeated runs differ in the last bits)
    # Maximum error against the CPU kernels in float32 on the same rounded
    # values, relative to the largest value: float16, bfloat16.
    reduced_tolerance = {torch.float16: 4e-3, torch.bfloat16: 3e-2}

    # ---------------------------------------------------------------- hooks

    def call(self, ops, *args):
        """The op's output (one tensor) from the library `ops`."""
        return getattr(ops, self.op)(*args)

    def reference(self, *args):
        """The same in plain PyTorch, differentiable by autograd."""
        raise NotImplementedError

    def cases(self):
        """Argument tuples (float64, CPU): random sizes and values, including edge cases."""
        raise NotImplementedError

    def gradcheck_cases(self):
        """Argument tuples (float64) where the op is smooth enough for finite differences."""
        raise NotImplementedError

    def empty_cases(self):
        """Argument tuples with a zero-size dimension."""
        raise NotImplementedError

    def bad_inputs(self, backend):
        """(args, exception type, message regex) for arguments the op must refuse,
        made on backend.device (backend.name tells which kernels will check them)."""
        raise NotImplementedError

    def grad_indices(self, args):
        """Which arguments get gradients: by default every floating tensor."""
        return [i for i, a in enumerate(args) if is_float_tensor(a)]

    def backward_args(self, ops, args, grad_output, output_mask):
        """The arguments of ``<op>_backward`` for a forward with `args`."""
        raise NotImplementedError

    def output_masks(self, args):
        """The output_mask values to check ``<op>_backward`` with."""
        n = len(self.grad_indices(args))
        masks = [[True] * n] + [[j == i for j in range(n)] for i in range(n)]
        return masks

    # ---------------------------------------------------------------- running

    def run(self, backend, args, grad_output=None, seed=0):
        """Output and gradients (for grad_indices) of the op on `backend`, on detached
        copies of args; grad_output defaults to a fixed random tensor."""
        args = tuple(
            a.detach().clone().requires_grad_(i in self.grad_indices(args)) if isinstance(a, torch.Tensor) else a
            for i, a in enumerate(args)
        )
        wanted = [args[i] for i in self.grad_indices(args)]
        with backend.count(self.op, args):
            out = self.call(backend.ops, *args)
            if grad_output is None:
                grad_output = torch.randn(
                    out.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
                ).to(out)
            grads = torch.autograd.grad(out, wanted, grad_output, allow_unused=True) if wanted else ()
        grads = tuple(torch.zeros_like(w) if g is None else g for g, w in zip(grads, wanted))
        return (out.detach(),) + grads

    def run_reference(self, args, grad_output):
        args = tuple(
            a.detach().clone().requires_grad_(i in self.grad_indices(args)) if isinstance(a, torch.Tensor) else a
            for i, a in enumerate(args)
        )
        wanted = [args[i] for i in self.grad_indices(args)]
        out = self.reference(*args)
        grads = torch.autograd.grad(out, wanted, grad_output, allow_unused=True) if wanted else ()
        grads = tuple(torch.zeros_like(w) if g is None else g for g, w in zip(grads, wanted))
        return (out.detach(),) + grads

    @staticmethod
    def assert_close(actual, expected, what, **tol):
        assert len(actual) == len(expected), f"{what}: {len(actual)} results, expected {len(expected)}"
        for i, (a, b) in enumerate(zip(actual, expected)):
            torch.testing.assert_close(a.to(b.device), b, msg=lambda m: f"{what}, result {i}: {m}", **tol)

    # ---------------------------------------------------------------- checks

    def test_matches_reference(self, backend):
        for n, args in enumerate(self.cases()):
            dev_args = convert(args, backend.device)
            ours = self.run(backend, dev_args, seed=n)
            g = torch.randn(ours[0].shape, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
            ref = self.run_reference(args, g)
            for i, t in enumerate(ours):
                assert torch.isfinite(t).all(), f"case {n}, result {i} is not finite"
            self.assert_close(ours, ref, f"case {n}", rtol=self.grad_rtol, atol=self.grad_rtol)

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_matches_cpu_kernels(self, gpu_backend, cpu_backend, dtype):
        # The CUDA kernels (emulated or real) compute what the CPU kernels do.
        tol = 1e-10 if dtype == torch.float64 else 1e-4
        for n, args in enumerate(self.cases()):
            args = convert(args, dtype=dtype)
            want = self.run(cpu_backend, args, seed=n)
            got = self.run(gpu_backend, convert(args, gpu_backend.device), seed=n)
            self.assert_close(got, want, f"case {n}", rtol=tol, atol=tol)

    @pytest.mark.parametrize("dtype", REDUCED)
    def test_reduced_precision(self, gpu_backend, cpu_backend, dtype):
        # float16/bfloat16 (CUDA only), against the CPU kernels in float32 on the
        # same rounded values: only the rounding of results may differ.
        for n, args in enumerate(self.cases()):
            rounded = convert(args, dtype=dtype)
            with native_cpu_convolution(gpu_backend):
                got = self.run(gpu_backend, convert(rounded, gpu_backend.device), seed=n)
            want = self.run(cpu_backend, convert(rounded, dtype=torch.float32), seed=n)
            for i, (a, b) in enumerate(zip(got, want)):
                assert a.dtype == dtype, f"case {n}, result {i}: dtype {a.dtype}"
                bound = self.reduced_tolerance[dtype] * max(1.0, b.abs().max().item() if b.numel() else 0.0)
                torch.testing.assert_close(
                    a.float().cpu(), b, rtol=0, atol=bound, equal_nan=True, msg=lambda m: f"case {n}, result {i}: {m}"
                )

    def test_gradcheck(self, backend):
        for args in self.gradcheck_cases():
            args = convert(args, backend.device)
            inputs = tuple(
                a.detach().clone().requires_grad_(i in self.grad_indices(args)) if isinstance(a, torch.Tensor) else a
                for i, a in enumerate(args)
            )
            with backend.count(self.op, inputs):
                assert torch.autograd.gradcheck(lambda *xs: self.call(backend.ops, *xs), inputs)

    def test_empty(self, backend):
        for args in self.empty_cases():
            args = convert(args, backend.device)
            out, *grads = self.run(backend, args)
            for i, g in zip(self.grad_indices(args), grads):
                assert g.shape == args[i].shape
                assert not g.numel() or torch.isfinite(g).all()
            assert out.shape == self.call(backend.ops, *args).shape

    def layout_variants(self, args):
        """(name, args) equal in value to args but laid out otherwise."""

        def each(fn):
            return tuple(fn(a) if isinstance(a, torch.Tensor) and a.dim() == 4 else a for a in args)

        return [
            ("channels_last", each(lambda t: t.contiguous(memory_format=torch.channels_last))),
            ("strided", each(strided)),
            ("transposed", each(lambda t: t.transpose(2, 3).contiguous().transpose(2, 3))),
        ]

    def test_layouts(self, backend):
        args = convert(self.cases()[1], backend.device)
        want = self.run(backend, args)
        g = torch.randn(want[0].shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(want[0])
        for name, variant in self.layout_variants(args):
            self.assert_close(self.run(backend, variant, g), want, name, rtol=1e-12, atol=1e-12)
        # An incoming gradient that is not contiguous (expanded, transposed).
        for name, grad in [
            ("expanded grad", g[:1, :1].expand_as(g)),
            ("transposed grad", g.transpose(2, 3).contiguous().transpose(2, 3)),
        ]:
            self.assert_close(
                self.run(backend, args, grad), self.run(backend, args, grad.contiguous()), name, rtol=1e-12, atol=1e-12
            )

    def test_bad_inputs(self, backend):
        for args, exc, match in self.bad_inputs(backend):
            with pytest.raises(exc, match=match):
                self.call(backend.ops, *args)

    def test_opcheck(self, backend):
        args = convert(self.gradcheck_cases()[0], backend.device)
        inputs = tuple(
            a.detach().clone().requires_grad_(i in self.grad_indices(args)) if isinstance(a, torch.Tensor) else a
            for i, a in enumerate(args)
        )
        forward = getattr(backend.ops, self.op).default
        backward = getattr(backend.ops, self.op + "_backward").default
        with backend.count(self.op, inputs):
            if not (backend.name == "cuda" and self.cuda_forward_atomic):  # opcheck compares repeated runs
                torch.library.opcheck(forward, inputs)
            out = self.call(backend.ops, *args)
            g = torch.randn_like(out)
            for mask in self.output_masks(args):
                torch.library.opcheck(backward, self.backward_args(backend.ops, args, g, mask))

    def test_only_requested_gradients(self, backend):
        args = convert(self.cases()[0], backend.device)
        g = torch.randn_like(self.call(backend.ops, *args))
        backward = getattr(backend.ops, self.op + "_backward")
        full = backward(*self.backward_args(backend.ops, args, g, self.output_masks(args)[0]))
        for mask in self.output_masks(args)[1:]:
            got = backward(*self.backward_args(backend.ops, args, g, mask))
            for i, (needed, a, b) in enumerate(zip(mask, got, full)):
                if needed:
                    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12, msg=lambda m: f"mask {mask}, {i}: {m}")
                else:
                    assert a.numel() == 0, f"mask {mask}: gradient {i} was computed"

    def test_torch_compile_fullgraph(self, backend):
        # Every op and backend compiles this one code object; without a reset they
        # add up to dynamo's recompile limit, which fullgraph turns into an error.
        torch._dynamo.reset()
        args = convert(self.cases()[1], backend.device, torch.float32)
        idx = self.grad_indices(args)

        def loss_fn(*xs):
            return self.call(backend.ops, *xs).square().mean()

        compiled = torch.compile(loss_fn, fullgraph=True)
        inputs = tuple(
            a.detach().clone().requires_grad_(i in idx) if isinstance(a, torch.Tensor) else a
            for i, a in enumerate(args)
        )
        loss = compiled(*inputs)
        grads = torch.autograd.grad(loss, [inputs[i] for i in idx])
        loss_ref = loss_fn(*inputs)
        grads_ref = torch.autograd.grad(loss_ref, [inputs[i] for i in idx])
        self.assert_close((loss,) + grads, (loss_ref,) + grads_ref, "compiled", rtol=1e-5, atol=1e-5)

    def test_double_backward_raises(self, backend):
        args = convert(self.cases()[0], backend.device)
        idx = self.grad_indices(args)
        inputs = tuple(
            a.detach().clone().requires_grad_(i in idx) if isinstance(a, torch.Tensor) else a
            for i, a in enumerate(args)
        )
        grads = torch.autograd.grad(
            self.call(backend.ops, *inputs).square().sum(), [inputs[i] for i in idx], create_graph=True
        )
        with pytest.raises(RuntimeError, match="double backward"):
            sum(g.sum() for g in grads).backward()

    def test_deterministic_mode(self, backend):
        # Under torch.use_deterministic_algorithms(True), each call either gives
        # bitwise the same results every time or raises PyTorch's error.
        args = convert(self.cases()[1], backend.device)
        with DeterministicAlgorithms():
            try:
                first = self.run(backend, args)
            except RuntimeError as err:
                assert "does not have a deterministic implementation" in str(err), str(err)
                assert backend.name != "cpu", "the CPU kernels must be deterministic"
                return
            second = self.run(backend, args)
        for a, b in zip(first, second):
            assert torch.equal(a, b)

    def test_same_result_for_any_thread_count(self, cpu_backend):
        args = self.cases()[2]
        results = []
        for threads in (1, 2, 3):
            with num_threads(threads):
                results.append(self.run(cpu_backend, args))
        for result in results[1:]:
            if self.thread_bitwise:
                for a, b in zip(result, results[0]):
                    assert torch.equal(a, b)
            else:
                self.assert_close(result, results[0], "threads", rtol=1e-12, atol=1e-12)

    def test_64bit_indexing(self, emulated_backend):
        # The 64-bit index instantiations of the CUDA kernels, forced on small inputs.
        # (Some cases launch nothing: nothing to compute, or a dense route of ATen's.)
        ops, launched = emulated_backend.ops, 0
        for n, args in enumerate(self.cases()[:24]):
            want = self.run(emulated_backend, args, seed=n)
            with emulated_backend.configure(force_int64=True):
                ops._emulation_reset_stats()
                got = self.run(emulated_backend, args, seed=n)
                _, _, _, narrow, wide = ops._emulation_stats()
            assert narrow == 0, f"case {n}: {narrow} 32-bit paths ran"
            launched += wide
            self.assert_close(got, want, f"case {n}", rtol=1e-12, atol=1e-12)
        assert launched > 0

    def test_launch_shapes(self, emulated_backend):
        # Any grid is legal for grid-stride kernels, in any order: small grids make
        # the loops go round, and in-order and shuffled schedules must agree.
        for n, args in enumerate(self.cases()[:8]):
            want = self.run(emulated_backend, args, seed=n)
            for config in (
                {"max_blocks": 2, "max_threads": 5},
                {"in_order": True},
                {"seed": 12345},
                {"patch_budget": 64},
            ):
                with emulated_backend.configure(**config):
                    got = self.run(emulated_backend, args, seed=n)
                self.assert_close(got, want, f"case {n}, {config}", rtol=1e-12, atol=1e-12)
