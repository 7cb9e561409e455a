"""``/v1/me``: what a signed-in supporter (or anyone) sees of themselves."""
