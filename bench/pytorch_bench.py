"""The workloads of `minibatch bench`, in PyTorch, as a PyTorch user would write them: a plain
training loop over shuffled MNIST-shaped random data, on the CPU.

--model mlp: the Keras MNIST MLP (784-512-512-10, ReLU, no dropout), RMSprop with Keras's
settings (rho 0.9, eps 1e-7).
--model convnet: the Keras "Simple MNIST convnet" (Conv2d 32 and 64 with 3x3 kernels and ReLU,
2x2 max pooling, Dropout 0.5, Linear to 10), Adam with Keras's eps 1e-7, PyTorch's own NCHW
layout.
--model lstm: MNIST's rows as 28 time steps through nn.LSTM(28, 128) (batch_first), the last
step's output into Linear(128, 10); Adam with Keras's eps 1e-7. (PyTorch's LSTM has two bias
vectors per gate where Keras has one: 512 more parameters, the same computation.)
--model transformer: MNIST's rows projected to 64 (Linear(28, 64)) plus a learned position
embedding, two nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128, dropout=0,
batch_first=True) (post-norm, ReLU: the same blocks as minibatch's), the mean over the rows,
Linear(64, 10); Adam with Keras's eps 1e-7.
All take cross-entropy on logits (the same math as minibatch's fused softmax + sparse
categorical cross-entropy).

--precision mixed_bfloat16: the forward and loss under `torch.autocast("cpu", dtype=torch.bfloat16)`
(weights and optimizer in f32, as Keras's mixed_bfloat16 and minibatch's), the convnet in the
`channels_last` memory format (oneDNN's fast bf16 convolutions).

Prints one JSON object: samples/s and ms/step of the best epoch within --seconds, and the
process's peak resident memory.
"""
import argparse, json, resource, time

import torch
from torch import nn


class LastStep(nn.Module):
    """nn.LSTM, then the output of the last step through a Linear layer."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, 128, batch_first=True)
        self.out = nn.Linear(128, 10)

    def forward(self, x):
        return self.out(self.lstm(x)[0][:, -1])


class Encoder(nn.Module):
    """Row projection + position embedding, two post-norm encoder blocks, mean over the rows."""

    def __init__(self):
        super().__init__()
        self.project = nn.Linear(28, 64)
        self.position = nn.Parameter(torch.empty(28, 64).uniform_(-0.2, 0.2))
        block = nn.TransformerEncoderLayer(64, 4, dim_feedforward=128, dropout=0.0, batch_first=True)
        self.blocks = nn.TransformerEncoder(block, 2, enable_nested_tensor=False)
        self.out = nn.Linear(64, 10)

    def forward(self, x):
        return self.out(self.blocks(self.project(x) + self.position).mean(dim=1))


def workload(name):
    """(model, optimizer, one sample's shape)"""
    if name == "transformer":
        model = Encoder()
        return model, torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7), (28, 28)
    if name == "lstm":
        model = LastStep()
        return model, torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7), (28, 28)
    if name == "mlp":
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
        return model, torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7), (784,)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10),
    )
    return model, torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7), (1, 28, 28)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["mlp", "convnet", "lstm", "transformer"], default="mlp")
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--samples", type=int, default=8192)
    p.add_argument("--precision", choices=["float32", "mixed_bfloat16"], default="float32")
    a = p.parse_args()
    bf16 = a.precision == "mixed_bfloat16"
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    b = a.batch_size
    n = -(-max(a.samples, b) // b) * b
    model, opt, shape = workload(a.model)
    x = torch.rand(n, *shape)
    y = torch.randint(0, 10, (n,))
    if bf16 and a.model == "convnet":
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    loss_fn = nn.CrossEntropyLoss()
    model.train()

    def epoch(count):
        order = torch.randperm(count)
        for i in range(0, count, b):
            idx = order[i:i + b]
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
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
        "model": a.model,
        "precision": a.precision,
        "threads": torch.get_num_threads(),
        "batch_size": b,
        "samples_per_s": n / best,
        "ms_per_step": best * 1e3 / steps,
        "steps": steps,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == "__main__":
    main()
