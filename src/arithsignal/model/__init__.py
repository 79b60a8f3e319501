"""The model: the GPT, its position indices, its size, saving and loading, and greedy decoding."""
