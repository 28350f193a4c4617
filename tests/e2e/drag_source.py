#!/usr/bin/env python3
"""A tiny GTK window that offers files as text/uri-list when dragged from, so a test can make
a real native drop (XDND) onto the app with xdotool. Usage: drag_source.py TITLE X Y PATH...
Prints "MAPPED" once shown and "DRAG-END" after each drag."""

import sys

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, GLib, Gtk  # noqa: E402

title, x, y, *paths = sys.argv[1:]
uris = [GLib.filename_to_uri(p, None) for p in paths]

win = Gtk.Window(title=title)
win.set_default_size(140, 80)
win.move(int(x), int(y))
box = Gtk.EventBox()
box.add(Gtk.Label(label=f"{len(uris)} file(s)"))
win.add(box)

box.drag_source_set(Gdk.ModifierType.BUTTON1_MASK, [], Gdk.DragAction.COPY)
box.drag_source_add_uri_targets()


def on_get(_widget, _ctx, selection, _info, _time):
    selection.set_uris(uris)


def on_end(*_args):
    print("DRAG-END", flush=True)


def on_map(*_args):
    print("MAPPED", flush=True)


box.connect("drag-data-get", on_get)
box.connect("drag-end", on_end)
win.connect("map-event", on_map)
win.connect("destroy", Gtk.main_quit)
win.show_all()
Gtk.main()
