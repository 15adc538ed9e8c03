"""What a machine hears in a track: tempo (`tempo`), key (`key`), form (`segment`), the
per-window feature sets (`features`) and the whole analysis stage (`analyze`)."""
