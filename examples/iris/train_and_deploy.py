"""Train a scikit-learn classifier on the iris data, deploy it with Shipyard, call it.

    pip install scikit-learn joblib      # on the machine that runs this script
    python examples/iris/train_and_deploy.py [--url http://127.0.0.1:8080]

It uploads the model with its features, target and a baseline sample, deploys it as a
model service (no code to write), and asks for a prediction for a few flowers. The iris
data ships with scikit-learn, so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import io
import os
import sys

import joblib
import sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from shipyard_sdk import Client

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def train() -> tuple[LogisticRegression, list[dict[str, float]], list[str]]:
    iris = load_iris()
    model = LogisticRegression(max_iter=1000).fit(iris.data, iris.target_names[iris.target])
    records = [dict(zip(FEATURES, map(float, row), strict=True)) for row in iris.data]
    return model, records, [str(name) for name in iris.target_names[iris.target]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("SHIPYARD_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--name", default="iris")
    args = parser.parse_args()

    model, records, species = train()
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    metadata = {
        "features": [{"name": name, "type": "number"} for name in FEATURES],
        "target": "species",
        "problem_type": "classification",
        # The service must unpickle with the scikit-learn that pickled the model.
        "packages": [f"scikit-learn=={sklearn.__version__}", "joblib", "pandas"],
        "description": "Iris species from sepal and petal sizes",
        "baseline": [
            {**record, "species": label}
            for record, label in list(zip(records, species, strict=True))[::10]
        ],
    }
    with Client(args.url, timeout=600) as client:
        version = client.models.upload(args.name, buffer.getvalue(), metadata)
        print(f"uploaded {args.name}:{version['version']}", file=sys.stderr)
        deployed = client.models.deploy(args.name, version["version"])
        service, tag = deployed["service"], deployed["generation"]["tag"]
        print(f"deploying {service} {tag} (the first build installs scikit-learn)", file=sys.stderr)
        client.services.wait_until_serving(service, tag)
        flowers = [records[0], records[60], records[120]]
        answer = client.user_services.invoke("post", "/api/v1.0/predict/", service, flowers)
    for flower, prediction in zip(flowers, answer["predictions"], strict=True):
        print(f"{flower} -> {prediction}")


if __name__ == "__main__":
    main()
