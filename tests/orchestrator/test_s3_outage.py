"""The object store goes away for 20 s in the middle of a sweep (every connection dropped, every
new one reset): row, artifact and Tune checkpoint writes are retried, and every trial's row arrives
exactly once. The S3 server is a real process; the outage is a proxy in front of it."""

import threading
import time

import pandas as pd
import pytest

from orchestrator._spec import parse_spec
from orchestrator._store import ResultsStore
from orchestrator._sweep import Sweep

pytestmark = pytest.mark.s3

OUTAGE_S = 20


def test_s3_down_for_20_s_mid_sweep(monkeypatch, l552_lut):
    import boto3
    import s3fs

    from _net import listening_addresses
    from _s3 import Outage, make_bucket, s3_env, s3_server

    with s3_server() as direct:
        make_bucket(direct, "outage")
        proxy = Outage(direct)
        # Test servers are reachable from this host only.
        for port in (int(direct.rsplit(":", 1)[1]), proxy.port):
            assert listening_addresses(port) == {"127.0.0.1"}
        for key, value in s3_env(proxy.endpoint).items():
            monkeypatch.setenv(key, value)
        s3fs.S3FileSystem.clear_instance_cache()
        url = "s3://outage/sweeps"
        l552_lut.write(f"{url}/lut")
        spec = parse_spec({
            "name": "outage", "storage": url, "datasets": ["basicmotions"],
            "mcus": ["nucleo-l552ze-q"], "budgets": [{"latency_ms": 11 + i} for i in range(4)],
            "search": {"epochs": 3, "warmup_epochs": 1, "retrain_epochs": 3}, "deploy": False,
            "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2}, "max_failures": 3})

        client = boto3.client("s3", endpoint_url=direct, aws_access_key_id="testing",
                              aws_secret_access_key="testing", region_name="us-east-1")
        outage = {}

        def rows_stored() -> int:
            listing = client.list_objects_v2(Bucket="outage", Prefix="sweeps/results/")
            return sum(o["Key"].endswith(".parquet") for o in listing.get("Contents", []))

        def cut_when_the_first_row_lands():
            while rows_stored() < 1:
                time.sleep(0.2)
            outage["rows_before"] = rows_stored()
            outage["down"] = time.time()
            proxy.down()
            time.sleep(OUTAGE_S)
            outage["up"] = time.time()
            proxy.up()

        cutter = threading.Thread(target=cut_when_the_first_row_lands, daemon=True)
        cutter.start()
        try:
            Sweep(spec).run(verbose=0, say=lambda line: None)
        finally:
            cutter.join(OUTAGE_S + 5)
            proxy.up()

        assert outage.get("up"), "the sweep ended before the outage began"
        assert proxy.refused > 0                     # clients did hit the dead endpoint
        rows = ResultsStore(url).read(sweep="outage")
        finished = rows[rows["status"] == "ok"]
        lost = 4 - len(finished)
        after = int((rows["finished_at"] > pd.Timestamp(outage["down"], unit="s", tz="UTC")).sum())
        print(f"\nS3 outage {OUTAGE_S} s: {len(finished)} trials finished, "
              f"{(rows['resumed_from'] != '').sum()} resumed, {lost} lost; "
              f"{outage['rows_before']} rows before the outage, {after} after it began; "
              f"{proxy.refused} connections refused")
        assert len(rows) == 4 and rows["trial_key"].is_unique and lost == 0
        assert after >= 1                            # trials were still writing when it went down
        proxy.close()
