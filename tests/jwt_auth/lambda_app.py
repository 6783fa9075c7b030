"""tests/served_app.py's app behind Mangum, as api/index.py puts app/main.py's on AWS Lambda."""

from mangum import Mangum

from tests.served_app import app

handler = Mangum(app, lifespan="off")
