"""The Python module against the committed models' float64 references.

Run from the build tree (ctest does this):
    PYTHONPATH=build/release/python /usr/bin/python3 -m unittest -v tests/python/test_keel.py
or with pytest when it is installed. KEEL_MODELS_DIR defaults to the repository's models/.
"""
import os
import pathlib
import sys
import threading
import time
import unittest

import numpy as np

import keel

MODELS = pathlib.Path(os.environ.get(
    "KEEL_MODELS_DIR", pathlib.Path(__file__).resolve().parents[2] / "models"))
COMMITTED = ["resnet_tiny", "mobilenet_tiny", "densenet_tiny", "convnext_tiny_block",
             "shufflenet_tiny"]


def load_case(name):
    folder = MODELS / name
    inputs = {p.stem: np.load(p) for p in sorted((folder / "inputs").glob("*.npy"))}
    refs = {p.stem: np.load(p) for p in sorted((folder / "outputs_f64").glob("*.npy"))}
    return folder / "model.onnx", inputs, refs


def rel_error(got, ref):
    return float(np.max(np.abs(got.astype(np.float64) - ref)) / np.max(np.abs(ref)))


class CommittedModels(unittest.TestCase):
    def test_every_model_matches_float64(self):
        for name in COMMITTED:
            with self.subTest(model=name):
                path, inputs, refs = load_case(name)
                s = keel.InferenceSession(str(path), threads=2)
                outputs = s.run(None, inputs)
                names = [o.name for o in s.get_outputs()]
                self.assertEqual(len(outputs), len(refs))
                for out_name, got in zip(names, outputs):
                    ref = refs[out_name]
                    self.assertEqual(got.shape, ref.shape)
                    self.assertEqual(got.dtype, np.float32)
                    self.assertLessEqual(rel_error(got, ref), 1e-5, out_name)

    def test_fold_off_and_bytes_and_pathlike_give_the_same_result(self):
        path, inputs, refs = load_case("resnet_tiny")
        base = keel.InferenceSession(path, threads=1).run(None, inputs)[0]
        from_bytes = keel.InferenceSession(path.read_bytes(), threads=1).run(None, inputs)[0]
        np.testing.assert_array_equal(base, from_bytes)
        unfolded = keel.InferenceSession(str(path), threads=1, fold=False).run(None, inputs)[0]
        self.assertLessEqual(rel_error(unfolded, refs["output"]), 1e-5)

    def test_layouts_and_nhwc_input_match(self):
        path, inputs, refs = load_case("resnet_tiny")
        for layout in ("nchw", "nhwc", "auto"):
            with self.subTest(layout=layout):
                got = keel.InferenceSession(path, threads=1, layout=layout).run(None, inputs)[0]
                self.assertLessEqual(rel_error(got, refs["output"]), 1e-5)
        got = keel.InferenceSession(path, threads=1, winograd=False).run(None, inputs)[0]
        self.assertLessEqual(rel_error(got, refs["output"]), 1e-5)
        s = keel.InferenceSession(path, threads=1, layout="nhwc", input_layout="nhwc")
        self.assertEqual(s.get_inputs()[0].shape[1:], [64, 64, 3])
        x = np.ascontiguousarray(inputs["input"].transpose(0, 2, 3, 1))
        got = s.run(None, {"input": x})[0]
        self.assertLessEqual(rel_error(got, refs["output"]), 1e-5)

    def test_bf16_precision(self):
        path, inputs, refs = load_case("resnet_tiny")
        exact = keel.InferenceSession(path, threads=1, layout="nhwc").run(None, inputs)[0]
        s = keel.InferenceSession(path, threads=1, layout="nhwc", precision="bf16")
        got = s.run(None, inputs)[0]
        err = rel_error(got, refs["output"])
        self.assertLessEqual(err, 1e-2)
        self.assertGreater(err, rel_error(exact, refs["output"]))  # bfloat16 kernels ran
        kept = keel.InferenceSession(path, threads=1, layout="nhwc", precision="bf16",
                                     fp32_ops=["Conv", "Gemm", "MatMul"]).run(None, inputs)[0]
        np.testing.assert_array_equal(kept, exact)
        with self.assertRaisesRegex(Exception, "precision 'fp16'"):
            keel.InferenceSession(path, precision="fp16")

    def test_memory_limit(self):
        path, inputs, refs = load_case("resnet_tiny")
        with self.assertRaisesRegex(MemoryError, "max_memory_bytes"):
            keel.InferenceSession(path, max_memory_bytes=4096)
        s = keel.InferenceSession(path, threads=1, max_memory_bytes=64 << 20)
        self.assertLessEqual(rel_error(s.run(None, inputs)[0], refs["output"]), 1e-5)

    def test_introspection(self):
        path, _, _ = load_case("resnet_tiny")
        s = keel.InferenceSession(str(path), threads=2)
        self.assertEqual(s.threads, 2)
        [inp] = s.get_inputs()
        [out] = s.get_outputs()
        self.assertEqual((inp.name, inp.type), ("input", "tensor(float)"))
        self.assertEqual(inp.shape, ["batch", 3, 64, 64])  # dynamic dim: its name
        self.assertEqual((out.name, out.shape), ("output", ["batch", 10]))
        self.assertIn("input", repr(inp))

    def test_outputs_by_name_and_non_contiguous_input(self):
        path, inputs, refs = load_case("resnet_tiny")
        s = keel.InferenceSession(str(path), threads=1)
        x = inputs["input"]
        # A Fortran-ordered copy: keel makes it contiguous and gets the same answer.
        fortran = np.asfortranarray(x)
        self.assertFalse(fortran.flags.c_contiguous)
        [y] = s.run(["output"], {"input": fortran})
        np.testing.assert_array_equal(y, s.run(None, {"input": x})[0])
        self.assertTrue(y.flags.c_contiguous and y.flags.owndata is False)


class Errors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        path, inputs, _ = load_case("resnet_tiny")
        cls.session = keel.InferenceSession(str(path), threads=1)
        cls.x = inputs["input"]

    def test_missing_file(self):
        with self.assertRaises(keel.InvalidArgument) as cm:
            keel.InferenceSession("/nonexistent/model.onnx")
        self.assertIn("/nonexistent/model.onnx", str(cm.exception))

    def test_garbage_model(self):
        with self.assertRaises(keel.InvalidModel):
            keel.InferenceSession(b"not an onnx model")

    def test_wrong_input_name(self):
        with self.assertRaises(keel.InvalidArgument) as cm:
            self.session.run(None, {"image": self.x})
        self.assertIn("no input named 'image'", str(cm.exception))

    def test_wrong_shape_and_dtype(self):
        with self.assertRaisesRegex(ValueError, r"shape \[1,3,32,32\]"):
            self.session.run(None, {"input": np.zeros((1, 3, 32, 32), np.float32)})
        with self.assertRaisesRegex(keel.KeelError, "float64"):
            self.session.run(None, {"input": self.x.astype(np.float64)})

    def test_wrong_output_name(self):
        with self.assertRaisesRegex(keel.InvalidArgument, "no output named 'logits'"):
            self.session.run(["logits"], {"input": self.x})

    def test_bad_option(self):
        path, _, _ = load_case("resnet_tiny")
        with self.assertRaisesRegex(keel.InvalidArgument, "threads"):
            keel.InferenceSession(str(path), threads=-1)
        with self.assertRaisesRegex(keel.InvalidArgument, "layout 'sideways'"):
            keel.InferenceSession(str(path), layout="sideways")


class Concurrency(unittest.TestCase):
    def test_four_threads_share_one_session(self):
        """4 Python threads run one session at once: every output equals the serial one. The
        speed-up over running the same work serially is printed (not asserted: on a loaded
        2-core machine it varies); test_gil_released_during_run checks the cause."""
        path, inputs, refs = load_case("resnet_tiny")
        s = keel.InferenceSession(str(path), threads=1)
        expected = s.run(None, inputs)[0]
        self.assertLessEqual(rel_error(expected, refs["output"]), 1e-5)
        runs_per_thread = 150
        errors = []

        def worker():
            try:
                for _ in range(runs_per_thread):
                    [y] = s.run(None, inputs)
                    if not np.array_equal(y, expected):
                        errors.append("output differs from the single-threaded run")
            except Exception as e:  # reported below
                errors.append(repr(e))

        def timed_threads(count):
            threads = [threading.Thread(target=worker) for _ in range(count)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return time.perf_counter() - t0

        serial = timed_threads(1) * 4  # 4 x the work of one thread
        parallel = timed_threads(4)
        self.assertEqual(errors, [])
        print(f"\n4 Python threads vs serial: {serial / parallel:.2f}x "
              f"({os.cpu_count()} cores)")

    def test_gil_released_during_run(self):
        """A Python thread makes progress while another thread is inside run(). With a huge
        switch interval the interpreter never takes the GIL from a thread that holds it, so
        the counter cannot move during run() unless run() releases the GIL."""
        path, inputs, _ = load_case("resnet_tiny")
        s = keel.InferenceSession(str(path), threads=1)
        x = np.repeat(inputs["input"], 16, axis=0)  # a longer run (batch 16)
        state = {"count": 0, "stop": False}

        def ticker():
            while not state["stop"]:
                state["count"] += 1
                time.sleep(0.0002)  # releases the GIL, so the main thread gets it back

        old_interval = sys.getswitchinterval()
        sys.setswitchinterval(30.0)
        t = threading.Thread(target=ticker)
        t.start()
        try:
            moved = 0
            for _ in range(5):
                before = state["count"]
                s.run(None, {"input": x})
                moved += state["count"] - before
        finally:
            state["stop"] = True
            t.join()
            sys.setswitchinterval(old_interval)
        self.assertGreater(moved, 0, "no Python thread ran during run(): the GIL is held")


if __name__ == "__main__":
    unittest.main()
