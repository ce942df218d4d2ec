"""Generation inside children: batched greedy decoding, rendering tool conversations."""
