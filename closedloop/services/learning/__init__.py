"""Learning from every case (举一反三): tags, similar issues, merging, recurrence, model cases,
callbacks."""
