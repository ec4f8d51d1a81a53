"""The lesson's application: the Tudui CNN, CIFAR-10, training, torch interop, the demo.

Needs the ``train`` extra (``pip install 'jaxloss[train]'``: flax, optax, orbax, tqdm,
matplotlib); ``jaxloss demo``'s loss steps run without it. Importing this package imports
none of them. Its modules:

* :mod:`jaxloss.tudui.model` -- ``Tudui`` (flax.nnx), torch's layout and initialisation.
* :mod:`jaxloss.tudui.torch_interop` -- weights to and from the lesson's torch model.
* :mod:`jaxloss.tudui.cifar10` -- CIFAR-10 from TFDS, an archive or a torchvision folder.
* :mod:`jaxloss.tudui.input_pipeline` -- the data of a run: CIFAR-10 or the synthetic set.
* :mod:`jaxloss.tudui.config` -- ``TrainConfig``; the command-line flags derive from it.
* :mod:`jaxloss.tudui.train` -- ``train_and_evaluate(config, workdir)``.
* :mod:`jaxloss.tudui.checkpoints` -- orbax checkpoints, verified on restore.
* :mod:`jaxloss.tudui.metrics` -- metrics.jsonl, steps.jsonl and the metrics chart.
* :mod:`jaxloss.tudui.distributed` -- ``jaxloss train --distributed`` (several processes).
* :mod:`jaxloss.tudui.errors` -- the errors the command reports in one line.
* :mod:`jaxloss.tudui.demo` -- ``jaxloss demo``, the lesson step by step.
* :mod:`jaxloss.tudui.cli` -- the ``jaxloss`` command: the flags of ``demo`` and ``train``.
"""
