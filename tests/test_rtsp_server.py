#!/usr/bin/python3
"""pipelines/rtsp-server.py end to end: start it on localhost (a free port), receive its
stream with rtspsrc (RTP over TCP, so no packet is lost on the way), decode it and check
the size and the frame count. Run by `meson test` (suite gst)."""
import os
import subprocess
import sys
import tempfile
import time
import unittest

import gi
gi.require_version('Gst', '1.0')
from gi.repository import Gst  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, '..', 'pipelines', 'rtsp-server.py')
CLIP_FRAMES = 60


def make_clip(path):
    """A small file (MJPEG in Matroska, 160x96, 60 frames at 30 fps): small enough that the
    server keeps real time on a busy CI machine, so the frame count is exact (a server
    slower than real time sends every frame, late, and rtspsrc ends the stream at the
    file's duration: measured with 10 fps processing, 27 of 60 frames)."""
    subprocess.run(['gst-launch-1.0', '-q', 'videotestsrc', 'num-buffers=%d' % CLIP_FRAMES,
                    'pattern=ball', '!', 'video/x-raw,width=160,height=96,framerate=30/1', '!',
                    'jpegenc', '!', 'matroskamux', '!', 'filesink', 'location=' + path], check=True)


class Server:
    """rtsp-server.py in a subprocess; its URL from the line it prints once listening."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, SERVER, '--port', '0', *args],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith('serving '):
            self.proc.kill()
            raise AssertionError('the server did not start: %r' % line)
        self.url = line.split(' ', 1)[1]

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


def receive(url, seconds):
    """Decoded frames from `url` until EOS or `seconds` after the first one (which must come
    within 30 s): (count, (width, height), eos)."""
    pipe = Gst.parse_launch('rtspsrc location=%s protocols=tcp ! rtph264depay ! h264parse ! '
                            'avdec_h264 ! appsink name=sink sync=false' % url)
    sink = pipe.get_by_name('sink')
    pipe.set_state(Gst.State.PLAYING)
    frames, size, eos = 0, None, False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sample = sink.emit('try-pull-sample', 100 * Gst.MSECOND)
        if sample:
            if not frames:
                deadline = time.monotonic() + seconds
            frames += 1
            s = sample.get_caps().get_structure(0)
            size = (s.get_value('width'), s.get_value('height'))
        elif sink.get_property('eos'):
            eos = True
            break
        msg = pipe.get_bus().pop_filtered(Gst.MessageType.ERROR)
        if msg:
            pipe.set_state(Gst.State.NULL)
            raise AssertionError('receiving: %s' % msg.parse_error()[0].message)
    pipe.set_state(Gst.State.NULL)
    return frames, size, eos


class RtspServerTest(unittest.TestCase):
    def test_file(self):
        """A file: every frame arrives, at twice the size, then the end of the stream."""
        with tempfile.TemporaryDirectory() as tmp:
            clip = os.path.join(tmp, 'clip.mkv')
            make_clip(clip)
            server = Server(clip)
            try:
                frames, size, eos = receive(server.url, 60)
            finally:
                server.close()
        print('file: %d frames at %s, eos %s' % (frames, size, eos))
        self.assertEqual(size, (320, 192))
        self.assertTrue(eos, 'the stream did not end')
        self.assertEqual(frames, CLIP_FRAMES)

    def test_live(self):
        """A live source (30 fps): 3 s of a steady stream at twice the size."""
        server = Server('--live', 'videotestsrc is-live=true pattern=ball ! '
                        'video/x-raw,width=160,height=96,framerate=30/1')
        try:
            frames, size, eos = receive(server.url, 3)
        finally:
            server.close()
        print('live: %d frames in 3 s at %s' % (frames, size))
        self.assertEqual(size, (320, 192))
        self.assertFalse(eos)
        # 90 at 30 fps (91-94 measured at load averages of 12-14 on 2 cores, the first
        # frames coming in a burst), less what the leaky queue drops on a busier machine:
        # at least a third
        self.assertGreaterEqual(frames, 30)


if __name__ == '__main__':
    Gst.init(None)
    unittest.main(verbosity=2)
