"""minibatch beside PyTorch, measured in the same run on the same machine.

For each batch size, runs `minibatch bench` and `bench/pytorch_bench.py` (same `--model`) in
fresh processes
(so each peak memory figure is that batch size's alone), alternating the two to spread the
machine's noise over both, and prints a table with the ratios; `--json FILE` keeps every
figure. Also measures each side's large-matrix-multiply peak (GFLOP/s of a 2048^3 f32 product).

Run from the repository root after `cargo build --release --examples`:
    python3 bench/compare.py [--model mlp|convnet|lstm|transformer] [--batch-sizes 1,32,128,1024] [--threads 2]
                             [--seconds 3] [--rounds 2] [--precision float32|mixed_bfloat16]

--precision mixed_bfloat16 trains minibatch under Keras's policy and PyTorch under
`autocast(bfloat16)` (see bench/pytorch_bench.py).
"""
import argparse, json, os, platform, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINIBATCH = os.path.join(ROOT, "target", "release", "minibatch")
GEMM = os.path.join(ROOT, "target", "release", "examples", "gemm")
# Work per training sample: the forward products (2 FLOP per weight), the weight gradients (2
# per weight) and the input gradients of layers 2 and 3 (2 per weight); neither framework
# computes the first layer's input gradient. 3.21 MFLOP (the "about 4.0" counted it).
WEIGHTS = [784 * 512, 512 * 512, 512 * 10]
MFLOP_PER_SAMPLE = (4 * sum(WEIGHTS) + 2 * sum(WEIGHTS[1:])) / 1e6
# The convnet: multiply-adds of each layer's forward pass (conv1 26·26·32·9, conv2
# 11·11·64·288, dense 1600·10), twice over for the weight gradients, and once more for the input
# gradients of conv2 and dense (not conv1's, which takes the data).
CONV_MACS = [26 * 26 * 32 * 9, 11 * 11 * 64 * 288, 1600 * 10]
CONV_MFLOP_PER_SAMPLE = (4 * sum(CONV_MACS) + 2 * sum(CONV_MACS[1:])) / 1e6
# The LSTM: per time step the input product (28 -> 512) and the recurrent one (128 -> 512),
# forward, weight gradients and input gradients (of h; not of the data's x): 28 steps.
LSTM_MACS_PER_STEP = [28 * 512, 128 * 512]
LSTM_MFLOP_PER_SAMPLE = 28 * (4 * sum(LSTM_MACS_PER_STEP) + 2 * LSTM_MACS_PER_STEP[1]) / 1e6 + 4 * 128 * 10 / 1e6
# The transformer, per sample: the row projection (28 rows, 28 -> 64), and per block the Q, K,
# V and output projections (4 of 64 x 64 per row), the scores and the weighted sum (2 of
# 28 x 28 x 64), the feed-forward (64 -> 128 -> 64 per row); the output layer. Forward, weight
# gradients and input gradients (not of the data).
TF_BLOCK_MACS = 28 * (4 * 64 * 64 + 2 * 64 * 128) + 2 * 28 * 28 * 64
TF_MACS = 28 * 28 * 64 + 2 * TF_BLOCK_MACS + 64 * 10
TF_MFLOP_PER_SAMPLE = (6 * TF_MACS - 2 * 28 * 28 * 64) / 1e6
WORKLOADS = {
    "mlp": (MFLOP_PER_SAMPLE, "Keras MNIST MLP (784-512-512-10, RMSprop)"),
    "convnet": (CONV_MFLOP_PER_SAMPLE, "Keras MNIST convnet (34,826 parameters, Adam)"),
    "lstm": (LSTM_MFLOP_PER_SAMPLE, "MNIST rows through LSTM(128), Dense(10) (Adam)"),
    "transformer": (TF_MFLOP_PER_SAMPLE, "MNIST rows through a 2-block Transformer encoder (d 64, 4 heads, ff 128; Adam)"),
}


def run_json(cmd, env):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out)


def minibatch(b, a, env):
    r = run_json([MINIBATCH, "bench", "--model", a.model, "--batch-sizes", str(b), "--seconds", str(a.seconds),
                  "--precision", a.precision, "--json", "-"], env)
    return r["results"][0]


def pytorch(b, a, env):
    return run_json([sys.executable, os.path.join(ROOT, "bench", "pytorch_bench.py"), "--model", a.model,
                     "--batch-size", str(b), "--threads", str(a.threads), "--seconds", str(a.seconds),
                     "--precision", a.precision], env)


def torch_gemm_peak(threads):
    import torch
    torch.set_num_threads(threads)
    m = torch.rand(2048, 2048)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(3):
            m @ m
        best = min(best, (time.perf_counter() - t) / 3)
    return 2 * 2048 ** 3 / best / 1e9


def minibatch_gemm_peak(env):
    out = subprocess.run([GEMM], check=True, capture_output=True, text=True, env=env).stdout
    line = [l for l in out.splitlines() if "large" in l][0]
    # Columns: shape, (label), f32 us, f32 GFLOP/s, bf16 us, bf16 GFLOP/s.
    return float(line.split()[-3])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mlp", choices=sorted(WORKLOADS))
    p.add_argument("--batch-sizes", default=None, help="default: 1,32,128,1024 (mlp), 32,128 (the others)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--rounds", type=int, default=2, help="measurements per side and batch size; the best counts")
    p.add_argument("--precision", choices=["float32", "mixed_bfloat16"], default="float32")
    p.add_argument("--json")
    a = p.parse_args()
    a.batch_sizes = a.batch_sizes or ("1,32,128,1024" if a.model == "mlp" else "32,128")
    mflop, title = WORKLOADS[a.model]
    env = dict(os.environ, MINIBATCH_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))
    rows = []
    for b in [int(s) for s in a.batch_sizes.split(",")]:
        mb, pt = [], []
        for _ in range(a.rounds):
            mb.append(minibatch(b, a, env))
            pt.append(pytorch(b, a, env))
        best = lambda rs: max(rs, key=lambda r: r["samples_per_s"])
        rows.append({"batch_size": b, "minibatch": best(mb), "pytorch": best(pt)})
        m, t = rows[-1]["minibatch"], rows[-1]["pytorch"]
        print(f"batch {b:>5}: minibatch {m['samples_per_s']:>9.0f}/s  pytorch {t['samples_per_s']:>9.0f}/s  "
              f"ratio {m['samples_per_s'] / t['samples_per_s']:.2f}", file=sys.stderr)
    gemm = {"minibatch": minibatch_gemm_peak(env), "pytorch": torch_gemm_peak(a.threads)}

    import torch
    print(f"\n{title}, {a.precision}, {a.threads} threads, {platform.processor() or platform.machine()}, "
          f"PyTorch {torch.__version__}, {time.strftime('%Y-%m-%d')}")
    print(f"GEMM peak (2048^3 f32): minibatch {gemm['minibatch']:.0f} GFLOP/s, PyTorch {gemm['pytorch']:.0f} GFLOP/s\n")
    print("| batch | minibatch samples/s | PyTorch samples/s | ratio | minibatch ms/step | PyTorch ms/step "
          "| minibatch GFLOP/s (% of PyTorch's GEMM peak) | minibatch peak RSS MiB | PyTorch peak RSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        m, t = r["minibatch"], r["pytorch"]
        gf = m["samples_per_s"] * mflop / 1e3
        print(f"| {r['batch_size']} | {m['samples_per_s']:,.0f} | {t['samples_per_s']:,.0f} | "
              f"{m['samples_per_s'] / t['samples_per_s']:.2f} | {m['ms_per_step']:.3f} | {t['ms_per_step']:.3f} | "
              f"{gf:.0f} ({100 * gf / gemm['pytorch']:.0f}%) | {m['peak_rss_bytes'] / 2**20:.0f} | {t['peak_rss_bytes'] / 2**20:.0f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"model": a.model, "threads": a.threads, "gemm_peak_gflops": gemm, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
