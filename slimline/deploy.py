"""`make deploy` / `slimline deploy`: register deployments/prefect.yaml with a Prefect server.

What it adds to a plain `prefect deploy --all`: it refuses to run without a server (no
PREFECT_API_URL and no `tracking.prefect_api_url`: Prefect's ephemeral API would forget the
deployments at once), creates the process work pool when it is missing, fills the nightly
schedule from the config (`schedule.cron`, `schedule.timezone`, passed to prefect.yaml as
$SLIMLINE_SCHEDULE__CRON and $SLIMLINE_SCHEDULE__TIMEZONE), and leaves out deployments
whose flow file is not there (reported, never silently).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from slimline.config import Settings

REPO = Path(__file__).resolve().parents[1]
PREFECT_FILE = REPO / "deployments" / "prefect.yaml"


class DeployError(RuntimeError):
    """Deployments could not be registered; the message says why."""


@dataclass
class DeployResult:
    api_url: str
    pools_created: list[str] = field(default_factory=list)
    deployed: list[str] = field(default_factory=list)  # "flow-entrypoint deployment-name"
    skipped: dict[str, str] = field(default_factory=dict)  # deployment name -> why
    output: str = ""


def api_url(settings: Settings) -> str:
    """The Prefect API to register with: the config's, else $PREFECT_API_URL."""
    url = settings.tracking.prefect_api_url or os.environ.get("PREFECT_API_URL")
    if not url:
        raise DeployError(
            "no Prefect server to register with: set PREFECT_API_URL or "
            "tracking.prefect_api_url (SLIMLINE_TRACKING__PREFECT_API_URL); "
            "`slimline up` starts one locally and prints the variables"
        )
    return url.rstrip("/")


def load_deployments(prefect_file: Path) -> dict:
    try:
        data = yaml.safe_load(prefect_file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DeployError(f"cannot read {prefect_file}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("deployments"), list):
        raise DeployError(f"{prefect_file} has no `deployments:` list")
    return data


def deploy(
    settings: Settings,
    prefect_file: Path = PREFECT_FILE,
    root: Path | None = None,
    names: list[str] | None = None,
    timeout: float = 600,
) -> DeployResult:
    """Register the deployments of `prefect_file` (only `names` when given). Entrypoints are
    relative to `root` (default: the folder above the file's), which is also where the
    worker will run the flows from."""
    url = api_url(settings)
    _check_server(url)
    root = (root or prefect_file.resolve().parent.parent).resolve()
    data = load_deployments(prefect_file)
    result = DeployResult(api_url=url)
    keep = []
    for spec in data["deployments"]:
        name = spec.get("name", "?")
        if names and name not in names:
            continue
        entry = str(spec.get("entrypoint", ""))
        if entrypoint_file(entry, root) is None:
            result.skipped[name] = f"{entry} does not exist yet"
            continue
        keep.append(spec)
        result.deployed.append(f"{entry} -> {name}")
    if not keep:
        return result
    for pool in sorted({s["work_pool"]["name"] for s in keep if s.get("work_pool")}):
        if ensure_process_pool(pool, url):
            result.pools_created.append(pool)
    env = {
        **os.environ,
        "PREFECT_API_URL": url,
        "SLIMLINE_SCHEDULE__CRON": settings.schedule.cron,
        "SLIMLINE_SCHEDULE__TIMEZONE": settings.schedule.timezone,
    }
    with tempfile.TemporaryDirectory(prefix="slimline-deploy-") as tmp:
        subset = Path(tmp) / "prefect.yaml"
        subset.write_text(yaml.safe_dump({**data, "deployments": keep}, sort_keys=False))
        cmd = [
            str(Path(sys.executable).with_name("prefect")),
            "--no-prompt",
            "deploy",
            "--all",
            "--prefect-file",
            str(subset),
        ]
        proc = subprocess.run(
            cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout
        )
    result.output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise DeployError(f"prefect deploy failed (exit {proc.returncode}):\n{result.output}")
    return result


def entrypoint_file(entrypoint: str, root: Path) -> Path | None:
    """The file a deployment's entrypoint names: `path/to/file.py:flow` (relative to
    `root`) or `package.module.flow` (an installed module); None when there is none."""
    import importlib.util

    if ".py:" in entrypoint:
        path = root / entrypoint.rsplit(":", 1)[0]
        return path if path.is_file() else None
    module = entrypoint.rsplit(":", 1)[0] if ":" in entrypoint else entrypoint.rsplit(".", 1)[0]
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        return None
    return Path(spec.origin) if spec is not None and spec.origin else None


def ensure_process_pool(name: str, url: str) -> bool:
    """Create the process work pool `name` unless it exists; True when it was created."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.workers.process import ProcessWorker

    async def run() -> bool:
        async with get_client() as client:
            try:
                await client.read_work_pool(name)
                return False
            except ObjectNotFound:
                template = ProcessWorker.get_default_base_job_template()
                pool = WorkPoolCreate(name=name, type="process", base_job_template=template)
                await client.create_work_pool(pool)
                return True

    with temporary_settings({PREFECT_API_URL: url}):
        return asyncio.run(run())


def _check_server(url: str) -> None:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=10) as resp:
            if resp.status == 200:
                return
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise DeployError(f"the Prefect server at {url} does not answer ({exc})") from None
    raise DeployError(f"the Prefect server at {url} is not healthy")
