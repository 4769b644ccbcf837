"""Storage URLs for the other packages: one code path for a local folder and `s3://bucket/prefix`,
whole-file atomic writes (`write_file`; `write_folder` / `read_folder` for a set of files committed
together, see lut_store/_atomic.py), one clear line (InputError) for every storage failure."""

from ._atomic import read_folder, replace_folder, write_file, write_folder
from ._storage import (create_exclusive, exists, filesystem, find_files, is_local, join,
                       list_files, read_bytes, read_table, remove, stamp, write_bytes,
                       write_table)

__all__ = ["create_exclusive", "exists", "filesystem", "find_files", "is_local", "join",
           "list_files", "read_bytes", "read_folder", "read_table", "remove", "replace_folder",
           "stamp", "write_bytes", "write_file", "write_folder", "write_table"]
