import flask
application = flask.Flask(__name__)
