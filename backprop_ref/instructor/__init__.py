"""The instructor's commands (``backprop-course build | validate | grade | feedback | report``), on nbgrader.

- ``course``: the course as course/nbgrader_config.py describes it, and CourseError for bad input.
- ``grade``: a class's submissions graded in parallel on the trusted path, one writer to the gradebook.
- ``validate``, ``feedback``, ``report``: what their commands do.
"""
