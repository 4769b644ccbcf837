"""A stage's CPU seconds (`search_core.cpu_seconds`): what the work cost, counting a finished
child process (the deploy stage's converters and firmware runs), and not time spent waiting."""

import subprocess
import sys
import time

from search_core import cpu_seconds


def test_cpu_seconds_count_work_and_children_not_waiting():
    start = cpu_seconds()
    time.sleep(0.3)
    assert cpu_seconds() - start < 0.1

    start = cpu_seconds()
    subprocess.run([sys.executable, "-c",
                    "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass"],
                   check=True)
    assert cpu_seconds() - start >= 0.35

    start, deadline = cpu_seconds(), time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    assert cpu_seconds() - start >= 0.19
