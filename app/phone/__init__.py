"""The dev phone: call the receptionist from a browser, through the path a phone call takes."""
