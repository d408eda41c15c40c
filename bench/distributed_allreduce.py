#!/usr/bin/env python3
"""One rank of bench/distributed.mjs's PyTorch side: torch.distributed (gloo backend, env:// rendezvous
from the torchrun variables protoseg's launcher sets), the same gradient sizes and the same work as
protoseg's GradientReducer: flatten into buckets of BUCKET_BYTES, one all_reduce per bucket, divide by
the world size, split back; and one all_reduce of all gradients as a single flat buffer.
Prints milliseconds per call (median) on rank 0 as JSON.
Usage: python3 bench/distributed_allreduce.py SHAPES.json ITERS BUCKET_BYTES
"""
import json
import statistics
import sys
import time

import torch
import torch.distributed as dist


def buckets(sizes, bucket_bytes):
    out, current, used = [], [], 0
    for i, n in enumerate(sizes):
        if current and used + 4 * n > bucket_bytes:
            out.append(current)
            current, used = [], 0
        current.append(i)
        used += 4 * n
    if current:
        out.append(current)
    return out


def main():
    shapes_file, iters, bucket_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method='env://')
    rank, world = dist.get_rank(), dist.get_world_size()
    shapes = json.load(open(shapes_file))
    gen = torch.Generator().manual_seed(rank)
    grads = [torch.rand(*s, generator=gen) - 0.5 for s in shapes]
    plan = buckets([g.numel() for g in grads], bucket_bytes)
    flat = torch.rand(sum(g.numel() for g in grads), generator=gen)
    bucketed, single = [], []
    for i in range(iters + 2):
        dist.barrier()
        t = time.perf_counter()
        reduced = [None] * len(grads)
        for bucket in plan:
            buf = torch.cat([grads[j].reshape(-1) for j in bucket])
            dist.all_reduce(buf)
            buf.div_(world)
            offset = 0
            for j in bucket:
                n = grads[j].numel()
                reduced[j] = buf[offset:offset + n].view_as(grads[j])
                offset += n
        bucket_ms = (time.perf_counter() - t) * 1000
        dist.barrier()
        t = time.perf_counter()
        out = flat.clone()
        dist.all_reduce(out)
        out.div_(world)
        single_ms = (time.perf_counter() - t) * 1000
        if i >= 2:
            bucketed.append(bucket_ms)
            single.append(single_ms)
    if rank == 0:
        print(json.dumps({'who': 'torch.distributed', 'backend': 'gloo', 'torch': torch.__version__, 'worldSize': world,
                          'floats': int(flat.numel()), 'buckets': len(plan),
                          'bucketedMs': statistics.median(bucketed), 'singleBufferMs': statistics.median(single)}))
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
