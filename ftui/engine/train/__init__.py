"""The training child: SFT and DPO through TRL, its callback, data-parallel launch."""
