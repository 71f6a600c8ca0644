"""The image-folder pipeline of `examples/data_pipeline.rs images`, in PyTorch, as a PyTorch
user would write it: torchvision's ImageFolder with Grayscale, RandomHorizontalFlip,
RandomRotation(36 degrees) and ToTensor, a DataLoader(batch_size=128, shuffle=True,
num_workers=2), and the Keras "Simple MNIST convnet" with Adam, as `pytorch_bench.py
--model convnet` builds them, on the CPU.

Usage: python bench/pytorch_images.py DIR [--epochs N] [--threads T]
Prints one JSON object: samples/s of each epoch.
"""
import argparse, json, time

import torch
from torch import nn
from torchvision import datasets, transforms

from pytorch_bench import workload

p = argparse.ArgumentParser()
p.add_argument("dir")
p.add_argument("--epochs", type=int, default=1)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--workers", type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
augment = transforms.Compose(
    [
        transforms.Grayscale(),
        transforms.RandomHorizontalFlip(),
        transforms.RandomRotation(36),
        transforms.ToTensor(),
    ]
)
data = datasets.ImageFolder(a.dir, transform=augment)
loader = torch.utils.data.DataLoader(data, batch_size=128, shuffle=True, num_workers=a.workers, persistent_workers=a.workers > 0)
model, opt, _ = workload("convnet")  # the convnet and Adam of `minibatch bench --model convnet`
loss_fn = nn.CrossEntropyLoss()
rates = []
for _ in range(a.epochs):
    start, n = time.perf_counter(), 0
    for x, y in loader:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        n += len(y)
    rates.append(n / (time.perf_counter() - start))
print(json.dumps({"samples_per_s": rates}))
