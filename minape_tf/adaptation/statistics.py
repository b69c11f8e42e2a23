"""Batch-norm statistics of each device: adapt a trained model to a new device, unlabelled.

A new speaker, microphone or machine shifts the distribution of every layer's inputs; the
batch norms' moving statistics are those of the training devices. Re-estimating them on the
new device's own observations (AdaBN, Li et al., 2016: "Revisiting batch normalization for
practical domain adaptation") needs no label, only some of its observations, which a
deployment usually has: record a while, re-estimate, then predict. The weights stay as
trained. A model whose series groups have ``equalize=True`` is equalised to the device
first (:func:`minape_tf.adaptation.frequency_response.set_device`: the device's own frequency
response removed); :func:`adapt_statistics` does both, for deployment;
:func:`minape_tf.adaptation.per_group.adapted_probabilities` does it per group of an
evaluation.
"""

from __future__ import annotations

from minape_tf.adaptation.batchnorm import batchnorm_layers, reestimate_batchnorm
from minape_tf.adaptation.frequency_response import equalization_layers, set_device


def adapted_variables(model) -> list:
    """What adapting changes (besides self-training's weights): the batch norms' moving
    statistics and the equalisations' device means."""
    return ([v for layer in batchnorm_layers(model)
             for v in (layer.moving_mean, layer.moving_variance)]
            + [layer.device for layer in equalization_layers(model)])


def saved_statistics(model) -> list:
    """The values of what adapting changes (:func:`adapted_variables`), to put back with
    :func:`restore_statistics`."""
    return [v.numpy() for v in adapted_variables(model)]


def restore_statistics(model, saved):
    """Put back values of :func:`saved_statistics`."""
    for variable, value in zip(adapted_variables(model), saved):
        variable.assign(value)


def adapt_statistics(model, batches) -> int:
    """Adapt ``model`` to one device's observations (``batches``: inputs, or ``(inputs,
    labels)`` pairs whose labels are ignored): its equalisation (when it has one), then its
    batch-norm statistics, which then see the equalised inputs. Returns the number of
    batches the batch norms used (0: the model has no batch norm)."""
    if equalization_layers(model):
        batches = batch_inputs(batches)    # read once: both passes use them
    set_device(model, batches)
    return adapt_batchnorm(model, batches)


def adapt_batchnorm(model, batches, max_batches=None) -> int:
    """Replace ``model``'s batch-norm statistics by those of ``batches`` (inputs, or
    ``(inputs, labels)`` pairs whose labels are ignored): the observations of one new
    device. Returns the number of batches used (0: the model has no batch norm)."""
    return reestimate_batchnorm(model, batches, max_batches=max_batches)


def batch_inputs(batches):
    """The inputs of each of ``batches`` (labels dropped), in a list."""
    parts = [batch[0] if isinstance(batch, tuple) else batch for batch in batches]
    if not parts:
        raise ValueError("no observations to adapt to")
    return parts
