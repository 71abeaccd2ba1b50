import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


class TestImportHygiene:
    def test_reader_and_generator_import_no_broker_client(self):
        code = (
            "import sys, cdio_stream.data, cdio_stream.data.synth, cdio_stream.data.requirements;"
            "bad = [m for m in ('aiokafka', 'faust', 'kafka') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
        )
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
