"""Deploy benchmark: environment creation with uv vs pip, and a code-only redeploy.

    python bench/deploy.py [--rounds N] [--skip-pip] [--docker | --only-docker]

Prints, from one run on this machine:
- cold environment creation (flask + gunicorn + scikit-learn, bytecode compiled) with uv
  and with pip, each into a new empty environment folder with the package caches and the
  runner's bytecode store warm (a first, unmeasured round warms them);
- the same environment in a new home, wall time and CPU (this process's children), with a
  bytecode store of its own (empty, as each home had one before) and with the user's
  store that every home shares (warm), alternating rounds;
- code-only redeploy of a hello service through a real ``shipyard up``: from the deploy
  request to the new generation serving (the status says it is live), median and worst.
- the user's figure: ``shipyard deploy DIR`` run as a user runs it, after a code-only
  change, from the keystroke to the first answer from the new generation through the
  gateway, median of 5, for the custom template's service and for the iris model service
  (a newly fitted model file, the same packages); and how much of it the CLI took before
  returning the prompt. A call made the moment the CLI returns that is still answered by
  the old generation is reported: the CLI must not return before the gateway serves.
- with ``--docker`` (needs a Docker engine and the base image, ``shipyard images
  build-base``): the docker runner's first build (environment image with scikit-learn, then
  the generation image), code-only rebuild, container start to healthy, and the code-only
  redeploy through ``shipyard up --runner docker``. Its images are removed afterwards.

Goals: cold environment <= 2 s with a warm cache; code-only redeploy <= 1.5 s (local) and
<= 5 s (docker); the user's redeploy <= 1.0 s (template) and <= 3 s (iris model).
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shipyard_runners import BuildSpec, DockerRunner, Profile, State  # noqa: E402
from shipyard_runners.containers import installation_id  # noqa: E402
from shipyard_runners.venvs import EnvironmentStore  # noqa: E402
from tests.conftest import start_shipyard  # noqa: E402

PACKAGES = ("scikit-learn",)
IRIS_FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
HELLO = (
    "from flask import Flask\napp = Flask(__name__)\n\n"
    "@app.get('/')\ndef hello():\n    return {{'v': {n}}}\n"
)


def time_env(installer: str, scratch: Path, round_no: int) -> float:
    # Each round is a new environment; package caches and the runner's bytecode store are
    # shared, as they are between environments of one Shipyard installation.
    store = EnvironmentStore(
        scratch / f"{installer}-{round_no}", installer,  # type: ignore[arg-type]
        bytecode_store=scratch / f"{installer}-bytecode",
    )
    started = time.perf_counter()
    store.ensure(f"{sys.version_info.major}.{sys.version_info.minor}", PACKAGES, lambda _l: None)
    return time.perf_counter() - started


def bench_environments(rounds: int, skip_pip: bool) -> None:
    installers = ["uv"] if skip_pip else ["uv", "pip"]
    with tempfile.TemporaryDirectory(prefix="bench-envs-") as scratch:
        for installer in installers:
            time_env(installer, Path(scratch), 0)  # warms the package cache
            figures = [time_env(installer, Path(scratch), n) for n in range(1, rounds + 1)]
            print(
                f"cold environment (flask+gunicorn+scikit-learn) with {installer:>3}: "
                f"median {statistics.median(figures):.2f} s, best {min(figures):.2f} s "
                f"over {rounds} rounds (goal <= 2 s)"
            )


def time_new_home(scratch: Path, round_no: int, shared: bool) -> tuple[float, float]:
    """Wall and CPU seconds to make the environment in a new home, its bytecode store its
    own or the user's (``scratch/user-bytecode``)."""
    home = scratch / f"home-{'shared' if shared else 'own'}-{round_no}"
    store = EnvironmentStore(home / "local" / "envs", "uv",
                             bytecode_store=scratch / "user-bytecode" if shared else None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    store.ensure(f"{sys.version_info.major}.{sys.version_info.minor}", PACKAGES, lambda _l: None)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench_new_homes(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-homes-") as scratch:
        time_new_home(Path(scratch), 0, shared=True)  # warms the package cache and the store
        figures: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for n in range(1, rounds + 1):
            for shared in (False, True):
                figures[shared].append(time_new_home(Path(scratch), n, shared))
        medians = {shared: (statistics.median(w for w, _ in rows),
                            statistics.median(c for _, c in rows))
                   for shared, rows in figures.items()}
        for shared, label in ((False, "its own bytecode store"), (True, "the user's store")):
            wall, cpu = medians[shared]
            print(f"environment (flask+gunicorn+scikit-learn) in a new home, {label:>22}: "
                  f"median {wall:.2f} s wall, {cpu:.2f} s CPU over {rounds} rounds")
        print(f"  the user's store: {medians[True][1] / medians[False][1]:.2f}x the CPU")


def bench_docker_runner(rounds: int) -> None:
    profile = Profile(name="small", cpu=1, memory_bytes=1024**3,
                      base_image="shipyard/python:3.11-bookworm")
    with tempfile.TemporaryDirectory(prefix="bench-docker-") as scratch:
        runner = DockerRunner(Path(scratch) / "root", installation=f"bench-{uuid.uuid4().hex[:8]}")
        try:
            builds, starts = [], []
            for n in range(rounds + 1):
                code = Path(scratch) / f"code-{n}"
                code.mkdir()
                (code / "app.py").write_text(HELLO.format(n=n))
                spec = BuildSpec(service_id="bench", service_name="bench", generation=f"v{n}",
                                 code_dir=code, packages=PACKAGES, profile=profile)
                started = time.perf_counter()
                artifact = runner.build(spec, lambda _line: None)
                built = time.perf_counter() - started
                if n == 0:
                    print(f"docker first build (environment image with flask+gunicorn+"
                          f"scikit-learn, then the code): {built:.1f} s")
                else:
                    builds.append(built)
                started = time.perf_counter()
                handle = runner.start(artifact, profile, {})
                while runner.health(handle) != State.HEALTHY:
                    time.sleep(0.01)
                starts.append(time.perf_counter() - started)
                runner.stop(handle, grace=5)
            print(f"docker code-only rebuild: median {statistics.median(builds):.2f} s, "
                  f"worst {max(builds):.2f} s over {rounds} builds")
            print(f"docker container start to healthy: median {statistics.median(starts):.2f} s, "
                  f"worst {max(starts):.2f} s over {len(starts)} starts")
        finally:
            runner.purge()


def bench_redeploy(rounds: int, runner: str = "local", goal: float = 1.5) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as scratch:
        home = Path(scratch) / "home"
        shipyard = start_shipyard(home, "--runner", runner)
        try:
            api = shipyard.url + "/api/v1/services"
            shipyard.http.post(api, json={"name": "hello"}, timeout=10).raise_for_status()
            shipyard.http.post(f"{api}/hello/enable", timeout=10).raise_for_status()
            figures = []
            for n in range(rounds + 1):
                shipyard.http.put(f"{api}/hello/files/app.py", data=HELLO.format(n=n), timeout=10)
                started = time.perf_counter()
                tag = shipyard.http.post(f"{api}/hello/deploy", timeout=10).json()["tag"]
                while True:
                    status = shipyard.http.get(f"{api}/hello", timeout=10).json()
                    if status["live_generation"] == tag:
                        break
                    if status["target_generation"] != tag:
                        raise SystemExit(f"{tag} failed: {status['status_message']}")
                    time.sleep(0.01)
                if n > 0:  # the first deploy creates the environment
                    figures.append(time.perf_counter() - started)
            print(
                f"code-only redeploy on {runner}, request -> new generation serving: "
                f"median {statistics.median(figures):.2f} s, worst {max(figures):.2f} s "
                f"over {rounds} redeploys (goal <= {goal:g} s)"
            )
        finally:
            shipyard.stop()
            if runner == "docker":
                DockerRunner(home / "docker", installation=installation_id(home)).purge()


def iris_model_files(folder: Path, regularization: float) -> None:
    """The iris classifier fitted with ``C=regularization`` and its metadata, in
    ``folder/model`` as the model template reads them."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris(as_frame=True)
    table = iris.data.set_axis(IRIS_FEATURES, axis=1)
    model = LogisticRegression(C=regularization, max_iter=1000).fit(table, iris.target)
    (folder / "model").mkdir(exist_ok=True)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    (folder / "model" / "model.joblib").write_bytes(buffer.getvalue())
    (folder / "model" / "metadata.json").write_text(json.dumps({
        "name": "iris", "version": str(regularization), "problem_type": "classification",
        "target": "species", "features": [{"name": f, "type": "number"} for f in IRIS_FEATURES],
    }))


def user_redeploy_cases() -> dict[str, tuple[Callable[[Path, int], None], str, str, object]]:
    """Per case: how round ``n`` changes the folder, and the call that asks the service
    (method, path, JSON body)."""
    def custom_change(folder: Path, n: int) -> None:
        app = folder / "app.py"
        app.write_text(app.read_text().split("\n# round ")[0] + f"\n# round {n}\n")

    def model_change(folder: Path, n: int) -> None:
        iris_model_files(folder, 1.0 + n / 10)

    flower = dict(zip(IRIS_FEATURES, (5.1, 3.5, 1.4, 0.2), strict=True))
    return {
        "custom": (custom_change, "POST", "/add-numbers", {"num1": 2, "num2": 5}),
        "model": (model_change, "POST", "/api/v1.0/predict/", [flower]),
    }


def bench_user_redeploy(rounds: int) -> None:
    """``shipyard deploy DIR`` as a user waits for it, for each case of
    ``user_redeploy_cases``, against one real ``shipyard up``."""
    with tempfile.TemporaryDirectory(prefix="bench-user-deploy-") as scratch:
        work = Path(scratch)
        shipyard = start_shipyard(work / "home")
        env = shipyard.env()
        goals = {"custom": 1.0, "model": 3.0}
        try:
            for kind, (change, method, path, body) in user_redeploy_cases().items():
                name = f"user-{kind}"
                subprocess.run([sys.executable, "-m", "shipyard", "new", kind, name],
                               cwd=work, env=env, check=True, capture_output=True)
                folder = work / name
                url = f"{shipyard.url}/user-services/invoke/{name}{path}"
                totals, prompts, early = [], [], 0
                for n in range(rounds + 1):
                    change(folder, n)
                    started = time.perf_counter()
                    done = subprocess.run(
                        [sys.executable, "-m", "shipyard", "deploy", str(folder)],
                        env=env, capture_output=True, text=True,
                    )
                    returned = time.perf_counter()
                    if done.returncode != 0:
                        raise SystemExit(f"shipyard deploy failed:\n{done.stdout}{done.stderr}")
                    tag = done.stderr.split(f"Deploying {name} ", 1)[1].split(".", 1)[0]
                    first = True
                    while True:
                        answer = shipyard.http.request(method, url, json=body, timeout=30)
                        if answer.status_code == 200 and answer.headers.get(
                                "X-Shipyard-Generation") == tag:
                            break
                        if first:
                            early += 1
                            first = False
                        time.sleep(0.005)
                    answered = time.perf_counter()
                    if n > 0:  # the first deploy creates the service and its environment
                        totals.append(answered - started)
                        prompts.append(returned - started)
                print(
                    f"user's redeploy, {kind} service, `shipyard deploy DIR` -> first answer "
                    f"from the new generation: median {statistics.median(totals):.2f} s, worst "
                    f"{max(totals):.2f} s over {rounds} (goal <= {goals[kind]:g} s); the CLI "
                    f"returned after {statistics.median(prompts):.2f} s (median); calls still "
                    f"answered by the old generation when it returned: {early}"
                )
        finally:
            shipyard.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-pip", action="store_true")
    parser.add_argument("--docker", action="store_true", help="the docker runner's figures too")
    parser.add_argument("--only-docker", action="store_true")
    parser.add_argument("--skip-user", action="store_true",
                        help="without the user's redeploy through the CLI")
    parser.add_argument("--only-user", action="store_true",
                        help="only the user's redeploy through the CLI")
    args = parser.parse_args()
    if args.only_user:
        bench_user_redeploy(5)
        return
    if not args.only_docker:
        bench_environments(args.rounds, args.skip_pip)
        bench_new_homes(args.rounds)
        bench_redeploy(max(args.rounds, 5))
        if not args.skip_user:
            bench_user_redeploy(5)
    if args.docker or args.only_docker:
        bench_docker_runner(args.rounds)
        bench_redeploy(max(args.rounds, 5), runner="docker", goal=5.0)


if __name__ == "__main__":
    main()
