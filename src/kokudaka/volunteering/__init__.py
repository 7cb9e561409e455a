"""Volunteering (貢献, contribution): activities on farms and at town events, the hours
supporters log on them, and their review, which issues KOKU at the activity's rate."""
