"""Small GStreamer helpers shared by the pipeline tools (upscale_clip.py, compare.py)."""
import os
import sys
import time

import numpy as np

import gi
gi.require_version('Gst', '1.0')
gi.require_version('GstVideo', '1.0')
from gi.repository import Gst, GstVideo  # noqa: E402,F401

# These tools run from the source tree: the element uses its model unless SR_MODEL_PATH
# names another (the library itself looks only at SR_MODEL_PATH and the installed model).
os.environ.setdefault('SR_MODEL_PATH', os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    '..', 'models', 'superres-x2.safetensors'))


def planes_of(sample):
    """The planes of a raw video sample as uint8 arrays, each (rows, bytes per row)
    (appsink does not take GstVideoMeta, so buffers have the default layout of their caps)."""
    info = GstVideo.VideoInfo.new_from_caps(sample.get_caps())
    f = info.finfo
    buf = sample.get_buffer()
    ok, mapped = buf.map(Gst.MapFlags.READ)
    data = np.frombuffer(mapped.data, np.uint8)
    out = []
    for i in range(f.n_planes):
        c = list(f.plane[:f.n_components]).index(i)  # first component stored in plane i
        w = -((-info.width) >> f.w_sub[c]) * f.pixel_stride[c]
        h = -((-info.height) >> f.h_sub[c])
        rows = data[info.offset[i]:info.offset[i] + info.stride[i] * h].reshape(h, info.stride[i])
        out.append(rows[:, :w].copy())
    buf.unmap(mapped)
    return out


def luma_of(sample):
    return planes_of(sample)[0]


def pack(planes, caps):
    """Planes into one buffer in the default layout of `caps` (what rawvideoparse reads)."""
    info = GstVideo.VideoInfo.new_from_caps(Gst.Caps.from_string(caps))
    out = np.zeros(info.size, np.uint8)
    for i, p in enumerate(planes):
        rows = out[info.offset[i]:info.offset[i] + info.stride[i] * p.shape[0]]
        rows.reshape(p.shape[0], info.stride[i])[:, :p.shape[1]] = p
    return out


def run(description, on_sample=None, setup=None, on_message=None, on_finish=None):
    """Run a pipeline to EOS. Samples of the appsink named 'sink' go to on_sample, element
    messages to on_message; setup(pipe) runs before PLAYING and on_finish(pipe) at EOS.
    Returns wall seconds."""
    pipe = Gst.parse_launch(description)
    if on_sample:
        sink = pipe.get_by_name('sink')
        sink.set_property('emit-signals', True)

        def new_sample(s):
            on_sample(s.emit('pull-sample'))
            return Gst.FlowReturn.OK
        sink.connect('new-sample', new_sample)
    if setup:
        setup(pipe)
    bus = pipe.get_bus()
    t0 = time.perf_counter()
    pipe.set_state(Gst.State.PLAYING)
    while True:
        msg = bus.timed_pop_filtered(Gst.CLOCK_TIME_NONE, Gst.MessageType.ERROR | Gst.MessageType.EOS |
                                     Gst.MessageType.ELEMENT)
        if msg.type == Gst.MessageType.ELEMENT:
            if on_message:
                on_message(msg.get_structure())
            continue
        break
    elapsed = time.perf_counter() - t0
    if on_finish and msg.type == Gst.MessageType.EOS:
        on_finish(pipe)
    pipe.set_state(Gst.State.NULL)
    if msg.type == Gst.MessageType.ERROR:
        err, debug = msg.parse_error()
        sys.exit('error: %s\n%s' % (err.message, debug))
    return elapsed


def time_element(pipe, name, spent):
    """Pad probes around element `name`: append the seconds each buffer spends inside it."""
    el = pipe.get_by_name(name)
    pending = {}

    def enter(pad, info):
        pending[info.get_buffer().pts] = time.perf_counter()
        return Gst.PadProbeReturn.OK

    def leave(pad, info):
        t = pending.pop(info.get_buffer().pts, None)
        if t is not None:
            spent.append(time.perf_counter() - t)
        return Gst.PadProbeReturn.OK

    el.get_static_pad('sink').add_probe(Gst.PadProbeType.BUFFER, enter)
    el.get_static_pad('src').add_probe(Gst.PadProbeType.BUFFER, leave)


def structure_fields(st):
    return {st.nth_field_name(i): st.get_value(st.nth_field_name(i)) for i in range(st.n_fields())}
