"""The steps of ``segml run``: each reads the run's typed state and the libraries' results."""
