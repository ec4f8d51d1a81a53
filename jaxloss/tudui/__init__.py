"""The lesson's application: the Tudui CNN, CIFAR-10, training, torch interop, the demo and
the ``jaxloss`` command (:mod:`jaxloss.tudui.cli`).

Needs the ``train`` extra (``pip install 'jaxloss[train]'``: flax, optax, orbax, tqdm,
matplotlib); ``jaxloss demo``'s loss steps run without it. Importing this package imports
none of them.
"""
