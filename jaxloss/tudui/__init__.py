"""The lesson's application: the Tudui CNN, CIFAR-10, training, torch interop, the demo.

Needs the ``train`` extra (``pip install 'jaxloss[train]'``: flax, optax, orbax, tqdm,
matplotlib). Importing this package imports none of them; its modules do:

* :mod:`jaxloss.tudui.model` -- ``Tudui`` (flax.nnx), torch's layout and initialisation.
* :mod:`jaxloss.tudui.torch_interop` -- weights to and from the lesson's torch model.
* :mod:`jaxloss.tudui.cifar10` -- CIFAR-10 from TFDS, an archive or a torchvision folder.
* :mod:`jaxloss.tudui.train` -- ``train_and_evaluate(config, workdir)``.
* :mod:`jaxloss.tudui.demo` -- ``jaxloss demo``, the lesson step by step.
"""
