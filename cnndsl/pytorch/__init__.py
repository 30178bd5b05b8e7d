"""The torch back end: the torch.fx compiler, weight transfer and exports (ONNX, TorchScript, Python)."""
