#!/usr/bin/python3
"""faiss spherical k-means on a .f32 file (row-major n x d float32), for bench/kmeans.mjs.

Usage: /usr/bin/python3 bench/kmeans_faiss.py FILE N D K ITERATIONS THREADS
Prints one JSON line: wall seconds and CPU seconds of all threads (train only), mean similarity to the assigned centroid, counts of
empty clusters. Same settings as PCS (spherical, min_points_per_centroid 1) but no subsampling, so
both implementations see every row.
"""
import json
import sys
import time

import faiss
import numpy as np

path, n, d, k, iterations, threads = sys.argv[1], *map(int, sys.argv[2:7])
x = np.fromfile(path, dtype=np.float32).reshape(n, d)
faiss.omp_set_num_threads(threads)
km = faiss.Kmeans(d, k, niter=iterations, spherical=True, seed=1234, min_points_per_centroid=1,
                  max_points_per_centroid=n, verbose=False)
start = time.perf_counter()
cpu_start = time.process_time()
km.train(x)
train_seconds = time.perf_counter() - start
train_cpu = time.process_time() - cpu_start
start = time.perf_counter()
sim, assign = km.index.search(x, 1)
search_seconds = time.perf_counter() - start
counts = np.bincount(assign[:, 0], minlength=k)
print(json.dumps({"seconds": train_seconds, "cpuSeconds": train_cpu, "searchSeconds": search_seconds,
                  "meanSimilarity": float(sim.mean()), "empty": int((counts == 0).sum())}))
