"""The command-line applications, in DCMTK's conventions: ``dicomul <app> ...``.

Each app is a module with ``main(argv) -> int``; :mod:`.__main__` dispatches
to it, importing only the app asked for so that a run starts fast.
"""
