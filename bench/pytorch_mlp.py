"""The workload of `minibatch bench`, in PyTorch: the Keras MNIST MLP (784-512-512-10, ReLU,
no dropout), RMSprop with Keras's settings (rho 0.9, eps 1e-7), cross-entropy on logits
(the same math as minibatch's fused softmax + sparse categorical cross-entropy), a plain
training loop over shuffled MNIST-shaped random data, on the CPU.

Prints one JSON object: samples/s and ms/step of the best epoch within --seconds, and the
process's peak resident memory.
"""
import argparse, json, resource, time

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--samples", type=int, default=8192)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    b = a.batch_size
    n = -(-max(a.samples, b) // b) * b
    x = torch.rand(n, 784)
    y = torch.randint(0, 10, (n,))
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 10),
    )
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(count):
        order = torch.randperm(count)
        for i in range(0, count, b):
            idx = order[i:i + b]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()

    epoch(min(n, max(b, 256)))  # warm-up
    best, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < a.seconds or best == float("inf"):
        t = time.perf_counter()
        epoch(n)
        best = min(best, time.perf_counter() - t)
    steps = n // b
    print(json.dumps({
        "framework": f"pytorch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "batch_size": b,
        "samples_per_s": n / best,
        "ms_per_step": best * 1e3 / steps,
        "steps": steps,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == "__main__":
    main()
