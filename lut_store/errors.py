class InputError(ValueError):
    """Bad user input: the message names the file/argument and the problem."""
