"""CDK entry point (cdk.json: ``"app": "python app.py"``). Synth needs no AWS credentials."""

from infra.app import build_app

if __name__ == "__main__":
    app, _ = build_app()
    app.synth()
