"""Models from the lesson."""

from .tudui import Tudui as Tudui
