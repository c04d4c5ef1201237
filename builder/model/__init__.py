"""Stage 4, the model: a `Graph` becomes Keras models.

Modules:

    compile        Graph -> keras.Model(s): explicit constructor calls on catalogue layers, shapes checked
                   node by node and mapped back to spec lines, parameters counted before weights exist
    layers/        builder's own layers (one module each, registered by name for load_model)
    inspect        reading a built model: every layer, nested models included; shapes as text
    catalogue_gen  writes the layer catalogue (resources/keras_layers.json) from the installed Keras

Public entry point: `compile.compile_graph(graph, max_params)` -> `CompiledModels`. Importing this
package imports nothing heavy; `compile` and `layers` import Keras.
"""
