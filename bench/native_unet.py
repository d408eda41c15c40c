#!/usr/bin/env python3
"""PyTorch reference for bench/native_unet.mjs: the same UNet (per stage 2x [3x3 conv, BN, ReLU],
maxpool, bilinear up (half-pixel) + concat, 1x1 head, 19-class cross-entropy, Adam), timed per step.
Prints one JSON line: {"secondsPerStep": ..., "peakRssMb": ..., "threads": ...}.
Run with Debian's python3 (python3-torch): /usr/bin/python3 bench/native_unet.py --widths 32,64,128,256"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


def run_unet(stages, levels, x):
    """Encoder stages with 2x2 max-pooling between them, then decoder levels on concat[bilinear up
    (half-pixel), skip]; returns the last decoder output and the encoder outputs (skips)."""
    skips = []
    for i, stage in enumerate(stages):
        if i > 0:
            x = F.max_pool2d(x, 2)
        x = stage(x)
        skips.append(x)
    for j, level in enumerate(levels):
        skip = skips[len(stages) - 2 - j]
        x = F.interpolate(x, size=skip.shape[2:], mode='bilinear', align_corners=False)
        x = level(torch.cat([x, skip], 1))
    return x, skips


class UNet(nn.Module):
    def __init__(self, widths, classes, cin=3):
        super().__init__()
        self.enc = nn.ModuleList()
        for w in widths:
            self.enc.append(block(cin, w))
            cin = w
        self.dec = nn.ModuleList(block(widths[i + 1] + widths[i], widths[i]) for i in range(len(widths) - 2, -1, -1))
        self.head = nn.Conv2d(widths[0], classes, 1, bias=False)

    def forward(self, x):
        x, _ = run_unet(self.enc, self.dec, x)
        return self.head(x)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--widths', default='32,64,128,256')
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--height', type=int, default=128)
    p.add_argument('--width', type=int, default=256)
    p.add_argument('--classes', type=int, default=19)
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--channels-last', action='store_true')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = UNet([int(w) for w in a.widths.split(',')], a.classes)
    x = torch.rand(a.batch, 3, a.height, a.width) * 2 - 1
    y = torch.randint(0, a.classes, (a.batch, a.height, a.width))
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for i in range(a.warmup + a.steps):
        t = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
        if i >= a.warmup:
            times.append(time.perf_counter() - t)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({'secondsPerStep': statistics.median(times), 'peakRssMb': rss_mb, 'threads': torch.get_num_threads()}))


if __name__ == '__main__':
    main()
