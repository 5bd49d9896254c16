"""Adam's update cache-blocked: the same step (eight products + Adam over 235,146 parameters) with the
update over the whole vectors or chunk by chunk (4k, 16k, 64k elements), interleaved; median ms/step.

    python benchmarks/bench_update_chunks.py
"""
import sys, time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_update_threads import adam_update, SIZES
rng = np.random.default_rng(0)
P = 235146
def mk():
    d = {n: rng.standard_normal(P, dtype=np.float32)*1e-3 for n in "pgmv"}; d["v"]=np.abs(d["v"]); d["tmp"]=np.empty(P,np.float32); return d
bs=128
Ws=[rng.standard_normal((a,b),dtype=np.float32)*0.05 for a,b in zip(SIZES,SIZES[1:])]
acts=[rng.random((bs,d),dtype=np.float32) for d in SIZES]; gin=[rng.random((bs,d),dtype=np.float32) for d in SIZES]; dWs=[np.empty_like(W) for W in Ws]
def products():
    for k,W in enumerate(Ws): np.matmul(acts[k],W,out=acts[k+1])
    for k in (2,1,0):
        np.matmul(acts[k].T,gin[k+1],out=dWs[k])
        if k: np.matmul(gin[k+1],Ws[k].T,out=gin[k])
variants={}
for ch in (None, 4096, 16384, 65536):
    d=mk()
    if ch is None:
        variants["whole"]=(d, lambda t,d=d: adam_update(d["p"],d["g"],d["m"],d["v"],d["tmp"],t))
    else:
        sl=[slice(i,min(i+ch,P)) for i in range(0,P,ch)]
        variants[f"chunk{ch}"]=(d, lambda t,d=d,sl=sl: [adam_update(d["p"][s],d["g"][s],d["m"][s],d["v"][s],d["tmp"][s],t) for s in sl])
variants["products"]=(None, lambda t: None)
res={k:[] for k in variants}; tc={k:0 for k in variants}
for rep in range(9):
    for k,(d,f) in variants.items():
        t0=time.perf_counter()
        for _ in range(200):
            products(); tc[k]+=1; f(tc[k])
        res[k].append((time.perf_counter()-t0)/200*1e3)
for k,v in res.items(): print(k, "%.3f ms/step median" % np.median(v))
