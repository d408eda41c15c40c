#!/usr/bin/env python3
"""Independent re-implementation of the Cityscapes pixel-level evaluation, used to check protoseg.

It shares no code with protoseg: PNGs are decoded here with zlib + struct, and the scores follow
cityscapesScripts' evalPixelLevelSemanticLabeling (getIouScoreForLabel / getScoreAverage):

* one confusion matrix over the whole set, indexed by raw (ground truth, prediction) values;
* IoU_c = TP / (TP + FP + FN), where FP only sums rows of non-ignored ground-truth classes;
* IoU is NaN when the denominator is 0; the mean is a nan-mean over the 19 classes (x 100).

usage: independent_cityscapes_eval.py PRED_DIR GT_DIR
  GT_DIR holds <name>_labelTrainIds.png (train ids, 255 = ignore),
  PRED_DIR holds <name>_trainIds.png for every ground-truth file.
Prints a JSON object {"mIoU", "perClassIoU", "pixelAccuracy", "images", "confusion"} (0-100 scale).
Needs numpy (Debian: apt-get install -y python3-numpy).
"""
import json
import os
import struct
import sys
import zlib

import numpy as np

NAMES = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
         "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
         "motorcycle", "bicycle"]
EVAL_LABELS = list(range(19))
IGNORE = 255


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png_8bit_single_channel(path):
    """Decodes an 8-bit greyscale or palette PNG to a (height, width) uint8 array of samples/indices."""
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s: not a PNG" % path)
    pos = 8
    idat = b""
    width = height = None
    while pos < len(blob):
        (length,) = struct.unpack(">I", blob[pos:pos + 4])
        ctype = blob[pos + 4:pos + 8]
        body = blob[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", blob[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(ctype + body) & 0xFFFFFFFF != crc:
            raise ValueError("%s: bad CRC in %r" % (path, ctype))
        if ctype == b"IHDR":
            width, height, depth, colour, _comp, _filt, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour not in (0, 3) or interlace != 0:
                raise ValueError("%s: expected 8-bit grey/palette non-interlaced, got depth %d colour %d" % (path, depth, colour))
        elif ctype == b"IDAT":
            idat += body
        elif ctype == b"IEND":
            break
        pos += 12 + length
    raw = zlib.decompress(idat)
    out = np.zeros((height, width), dtype=np.uint8)
    prev = [0] * width
    stride = width + 1
    for y in range(height):
        ftype = raw[y * stride]
        line = raw[y * stride + 1:(y + 1) * stride]
        cur = [0] * width
        for x in range(width):
            a = cur[x - 1] if x > 0 else 0
            b = prev[x]
            c = prev[x - 1] if x > 0 else 0
            v = line[x]
            if ftype == 1:
                v += a
            elif ftype == 2:
                v += b
            elif ftype == 3:
                v += (a + b) // 2
            elif ftype == 4:
                v += paeth(a, b, c)
            elif ftype != 0:
                raise ValueError("%s: unknown filter %d" % (path, ftype))
            cur[x] = v & 0xFF
        out[y] = cur
        prev = cur
    return out


def evaluate(pred_dir, gt_dir):
    suffix = "_labelTrainIds.png"
    names = sorted(f[:-len(suffix)] for f in os.listdir(gt_dir) if f.endswith(suffix))
    if not names:
        raise SystemExit("no *%s files in %s" % (suffix, gt_dir))
    conf = np.zeros((256, 256), dtype=np.uint64)
    for name in names:
        gt = read_png_8bit_single_channel(os.path.join(gt_dir, name + suffix))
        pred = read_png_8bit_single_channel(os.path.join(pred_dir, name + "_trainIds.png"))
        if gt.shape != pred.shape:
            raise SystemExit("%s: size mismatch %r vs %r" % (name, pred.shape, gt.shape))
        bad = set(np.unique(pred).tolist()) - set(EVAL_LABELS)
        if bad:
            raise SystemExit("%s: unknown predicted label ids %r" % (name, sorted(bad)))
        encoded = gt.astype(np.int64).ravel() * 256 + pred.astype(np.int64).ravel()
        conf += np.bincount(encoded, minlength=256 * 256).reshape(256, 256).astype(np.uint64)

    conf = conf.astype(np.float64)
    iou = {}
    for label in EVAL_LABELS:
        tp = conf[label, label]
        fn = conf[label, :].sum() - tp
        not_ignored = [l for l in EVAL_LABELS if l != label]
        fp = conf[not_ignored, label].sum()
        denom = tp + fp + fn
        iou[label] = float("nan") if denom == 0 else tp / denom
    values = np.array([iou[l] for l in EVAL_LABELS])
    valid_rows = conf[EVAL_LABELS, :]
    return {
        "mIoU": float(np.nanmean(values) * 100),
        "perClassIoU": {NAMES[l]: (None if np.isnan(iou[l]) else float(iou[l] * 100)) for l in EVAL_LABELS},
        "pixelAccuracy": float(np.trace(conf[:19, :19]) / valid_rows.sum() * 100),
        "images": len(names),
        "confusion": conf[:19, :19].astype(np.int64).tolist(),
    }


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(json.dumps(evaluate(sys.argv[1], sys.argv[2])))
