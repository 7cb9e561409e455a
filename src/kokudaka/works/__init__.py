"""Works (作品): one farmer's rice for one season, on offer to supporters."""
