"""Arrays the kernels read without counting references to them.

Numba counts a reference each time a kernel reads an array from the state (an atomic
increment, then a decrement when the kernel returns): a fifth of a replication's time
went there. A *borrowed* view is the same array with no memory-manager record (its
`meminfo` null), so those counts do nothing. The memory must then be kept alive by
someone else: the model holds every array it hands the kernels as borrowed views
(`CompiledModel.arrays`, the sources' tables) for as long as the state lives, and
replaces a view in the state whenever it replaces the array.
"""

from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic
from numba.np.arrayobj import make_array


def _view(context, builder, array_type, value):
    view = make_array(array_type)(context, builder, value)
    view.meminfo = cgutils.get_null_value(view.meminfo.type)
    return view._getvalue()


@intrinsic
def borrowed(typingctx, arrays):
    """A borrowed view of an array, or a tuple of borrowed views of a tuple of arrays."""
    if isinstance(arrays, types.Array):
        return arrays(arrays), lambda c, b, sig, args: _view(c, b, arrays, args[0])
    if not isinstance(arrays, types.BaseTuple) or not all(
        isinstance(t, types.Array) for t in arrays
    ):
        raise TypingError(f"borrowed() takes an array or a tuple of arrays, not {arrays}")

    def codegen(context, builder, signature, args):
        out = args[0]
        for i, item in enumerate(arrays):
            view = _view(context, builder, item, builder.extract_value(out, i))
            out = builder.insert_value(out, view, i)
        return out

    return arrays(arrays), codegen
