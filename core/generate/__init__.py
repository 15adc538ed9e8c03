"""Music out: the descriptor catalog, harmony, grooves, the composer, the synthesiser and
mix, render timelines and the render stage."""
