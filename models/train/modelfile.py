"""Read a gst-superres model file (safetensors + arch metadata) back into PyTorch, for
side-by-side runs of the same weights (benchmarks, checks)."""
import json
import struct

import numpy as np
import torch

from ghostnet import DIRECTIONS, ExitPredictor, GhostExitSR
from net import PlainSR


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop('__metadata__')
    tensors = {}
    for name, t in header.items():
        assert t['dtype'] == 'F32', name
        b, e = t['data_offsets']
        tensors[name] = torch.from_numpy(np.frombuffer(data[b:e], '<f4').reshape(t['shape']).copy())
    return meta, tensors


def load(path):
    """(model, predictor or None, metadata) with the file's weights, in eval mode."""
    meta, t = read_safetensors(path)
    arch = json.loads(meta['arch'])
    if arch.get('type') == 'ghost-exit':
        model = GhostExitSR(arch['channels'], arch['blocks'], arch['scale'])
        state = {'head.weight': t['head.weight'], 'head.bias': t['head.bias'],
                 'tail.weight': t['tail.weight'], 'tail.bias': t['tail.bias']}
        for i, b in enumerate(model.blocks):
            state['blocks.%d.conv.weight' % i] = t['blocks.%d.conv.weight' % i]
            state['blocks.%d.conv.bias' % i] = t['blocks.%d.conv.bias' % i]
            state['blocks.%d.shift_logits' % i] = b.shift_logits.detach()
            state['blocks.%d.frozen' % i] = torch.tensor([DIRECTIONS.index(tuple(d)) for d in arch['shifts'][i]])
        model.load_state_dict(state)
        pred = predictor(t, arch['blocks'], arch['predictor_width'], arch['exit_tile'])
    else:
        layers, exits = arch['layers'], arch.get('exits')
        model = PlainSR(layers[0]['out'], len(layers) - 2, arch['scale'], exits=bool(exits))
        state = {k: v for k, v in t.items() if not k.startswith(('exits.', 'predictor.'))}
        for d in range(1, model.blocks if exits else 0):  # the file's exits.<d> is exit_tails[d - 1]
            state['exit_tails.%d.weight' % (d - 1)] = t['exits.%d.weight' % d]
            state['exit_tails.%d.bias' % (d - 1)] = t['exits.%d.bias' % d]
        model.load_state_dict(state)
        pred = predictor(t, model.blocks, exits['predictor_width'], exits['tile']) if exits else None
    model.eval()
    return model, pred, meta


def predictor(t, blocks, width, tile):
    pred = ExitPredictor(blocks, width, tile)
    pred.load_state_dict({k[len('predictor.'):]: v for k, v in t.items() if k.startswith('predictor.')})
    return pred.eval()
