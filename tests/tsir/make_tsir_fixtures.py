#!/usr/bin/python3
"""make_tsir_fixtures.py: PyTorch's TorchScript IR text dumps of the committed models.

For each tests/models/fixtures/NAME.pt writes, into tests/tsir/fixtures/:
  NAME.graph.txt     print(m.graph)                      (submodule calls stay CallMethod)
  NAME.inlined.txt   print(m.inlined_graph)              (detectron2's model_ts_IR_inlined.txt)
  NAME.frozen.txt    print(torch.jit.freeze(m).graph)    (weights as %self.a.b constants)
  NAME.dump.txt      m._c.dump_to_str(True, False, False) (detectron2's model_ts_IR.txt)
Run with the Python that has torch: /usr/bin/python3 tests/tsir/make_tsir_fixtures.py
(`make_tsir_fixtures.py OUTDIR MODELSDIR NAME...` dumps other models, e.g. the big ones the
tests generate into the build directory).
Absolute paths in source comments are made relative to the repository, and object
addresses are zeroed, so the files do not depend on the machine.
"""
import os
import re
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MODELS = os.path.join(REPO, "tests", "models", "fixtures")
NAMES = ["mlp", "lenet", "ctrl", "mlp_scripted", "lenet_scripted", "lstm", "gru_bi", "encoder_small",
         "lstm_scripted", "gru_bi_scripted", "encoder_small_scripted", "dynamic_pos", "cls_acc", "cls_instances",
         "digits_cnn", "ctrl_break", "ctrl_break_src", "dict_out", "adapter_instances", "ctrl_conv"]
# Frozen graphs of these hold constants freezing computed (RNN weight lists printed as
# [<Tensors>], attention weights packed by freezing, batch norms folded into conv weights)
# that exist in no unfrozen archive, so a frozen dump plus the model's .pt cannot give the
# weights (the frozen module's own .pt can): no frozen fixture is written for them.
NO_FROZEN = {"lstm", "gru_bi", "lstm_scripted", "gru_bi_scripted", "encoder_small_scripted",
             "transformer_encoder", "transformer_encoder_scripted", "resnet18",
             "resnet18_scripted", "mobilenet_v2", "mobilenet_v2_scripted", "efficientnet_b0",
             "efficientnet_b0_scripted", "densenet121", "densenet121_scripted",
             "shufflenet_v2_x1_0", "shufflenet_v2_x1_0_scripted", "ctrl_conv"}


def clean(text):
    text = text.replace(REPO + "/", "")
    text = re.sub(r"/usr/lib/python3/dist-packages/", "", text)
    return re.sub(r" object at 0x[0-9a-f]+>", " object at 0x0>", text)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "fixtures")
    models = sys.argv[2] if len(sys.argv) > 2 else MODELS
    names = sys.argv[3:] or NAMES
    os.makedirs(out, exist_ok=True)
    for name in names:
        m = torch.jit.load(os.path.join(models, name + ".pt")).eval()
        dumps = {
            "graph": str(m.graph),
            "inlined": str(m.inlined_graph),
            "frozen": str(torch.jit.freeze(m).graph),
            "dump": m._c.dump_to_str(True, False, False),
        }
        if name in NO_FROZEN:
            del dumps["frozen"]
        for kind, text in dumps.items():
            with open(os.path.join(out, "%s.%s.txt" % (name, kind)), "w") as f:
                f.write(clean(text))


if __name__ == "__main__":
    main()
