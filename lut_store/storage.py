"""Storage URLs for the other packages: one code path for a local folder and `s3://bucket/prefix`,
whole-file atomic writes, one clear line (InputError) for every storage failure."""

from ._storage import (exists, filesystem, find_files, is_local, join, list_files, read_bytes,
                       read_table, write_bytes, write_table)

__all__ = ["exists", "filesystem", "find_files", "is_local", "join", "list_files", "read_bytes",
           "read_table", "write_bytes", "write_table"]
