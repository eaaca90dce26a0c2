"""Small real media files written by the tests themselves (images, WAV, H.264 MP4)."""

from pathlib import Path

import numpy as np


def write_image(path: Path, colour=(200, 30, 30), size=(300, 200), fmt="JPEG") -> Path:
    from PIL import Image, ImageDraw

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, (240, 240, 240))
    ImageDraw.Draw(image).ellipse((20, 20, size[0] - 20, size[1] - 20), fill=colour)
    image.save(path, fmt)
    return path


def write_wav(path: Path, seconds=1.0, rate=44100, channels=2, amplitude=0.3) -> Path:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    tone = (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(path, np.stack([tone] * channels, axis=1) if channels > 1 else tone, rate)
    return path


def write_mp4(path: Path, colours=((255, 0, 0), (0, 0, 255)), seconds_each=1.5, fps=8, size=(320, 240)) -> Path:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("h264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for colour in colours:
            for _ in range(int(seconds_each * fps)):
                frame = np.zeros((size[1], size[0], 3), dtype=np.uint8)
                frame[:] = colour
                frame[size[1] // 4: size[1] // 2, size[0] // 4: size[0] // 2] = 255
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
