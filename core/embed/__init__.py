"""Pretrained music embeddings that run offline.

``core.embed.musicnn``
    The musicnn tagging networks (Pons & Serra, 2019; MTT_musicnn trained on MagnaTagATune,
    MSD_musicnn on the Million Song Dataset) re-implemented in torch and loading the
    TensorFlow checkpoints that ship in the ``musicnn==0.1.0`` wheel (ISC licence). Gives
    50 tag probabilities and a 200-dimensional penultimate embedding per 3 s patch, and
    their averages on the studio's window grid.
``core.embed.weights``
    Where the checkpoints live (``$STUDIO_WEIGHTS_DIR/musicnn/<model>/`` or
    ``weights/musicnn/<model>/``) and the error raised when they are missing.
``core.embed.fetch``
    ``python -m core.embed.fetch WHEEL DEST``: unpack the checkpoints from the wheel
    (read as a zip file; the package, which pins TensorFlow 1.x, is never installed).
"""
